"""Checkers for notebook 04 (QLoRA with paged optimizers).

Exercise 1, ``qlora_bytes(n_quantized, n_other, n_lora)``: a QLoRA footprint by hand, without
activations: NF4 + double quantization for the decoder's linear weights, 16-bit for the rest,
float32 LoRA weights and gradients, AdamW with 32-bit states.
Exercise 2, ``paged_bytes(numels, optimizer)``: how many optimizer-state bytes bitsandbytes puts in
paged (unified) memory, for trainable tensors of the given sizes.
Exercise 3, ``choose_setup(model_name, gpu_gib)``: the fine-tuning method and optimizer closest to
full fine-tuning that fits a GPU.

Each checker compares with :mod:`lorakit.memory.estimate` (itself checked against measured bytes)
and names the usual slip when the answer is wrong. Exercise 3 runs the learner's function with the
notebook's estimator unavailable: the estimate is the learner's own (exercise 1's parts, per method).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from lorakit.memory.estimate import (MIN_8BIT_SIZE, OPTIM_8BIT_BLOCKSIZE, PAGED_MIN_NUMEL, TrainingSetup,
                                     estimate_footprint, footprint_table, smallest_gpu)
from lorakit.exercises import call, exercise, without

# ---------------------------------------------------------------- exercise 1: QLoRA bytes by hand

PARTS = ("base_weights", "lora_weights", "gradients", "optimizer_states")
NF4_DQ_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # QLoRA §3: 4.127 bits per weight


def reference_qlora_bytes(n_quantized: int, n_other: int, n_lora: int) -> dict[str, float]:
    """The answer to exercise 1 (code-book copies per tensor left out: under 0.01% at 13B)."""
    return {"base_weights": n_quantized * NF4_DQ_BITS / 8 + 2 * n_other, "lora_weights": 4 * n_lora,
            "gradients": 4 * n_lora, "optimizer_states": 8 * n_lora}


# Llama-2-13B, r = 64 on all linear layers (lorakit.count, checked against PEFT in tests/count/test_lora.py)
LLAMA2_13B = {"n_quantized": 12_687_769_600, "n_other": 328_094_720, "n_lora": 250_347_520}


@exercise(1)
def check_qlora_bytes(qlora_bytes: Callable) -> str:
    got = call(qlora_bytes, *LLAMA2_13B.values())  # n_quantized, n_other, n_lora
    if not isinstance(got, dict) or set(got) != set(PARTS):
        raise AssertionError(f"return a dict with exactly the keys {list(PARTS)}, got "
                             f"{sorted(got) if isinstance(got, dict) else type(got).__name__}")
    want = reference_qlora_bytes(**LLAMA2_13B)
    q, o, n = LLAMA2_13B["n_quantized"], LLAMA2_13B["n_other"], LLAMA2_13B["n_lora"]
    slips = {
        "base_weights": [(q * 4 / 8 + 2 * o, "4 bits per weight forgets the block scales: NF4 + double "
                                             "quantization costs 4 + 8/64 + 32/(64*256) = 4.127 bits"),
                         (q * 4.5 / 8 + 2 * o, "4.5 bits is NF4 with float32 scales; double quantization "
                                               "stores them in 8 bits: 4.127 bits"),
                         (q * NF4_DQ_BITS + 16 * o, "those are bits; divide by 8 for bytes"),
                         (q * NF4_DQ_BITS / 8, "the embeddings, norms and lm_head (n_other) stay in 16 bits: "
                                               "add 2 bytes each"),
                         (q * NF4_DQ_BITS / 8 + 4 * o, "n_other is in 16 bits here (2 bytes), as the paper's "
                                                       "qlora.py keeps it")],
        "lora_weights": [(2 * n, "PEFT keeps LoRA weights in float32: 4 bytes each")],
        "gradients": [(2 * n, "a gradient has its weight's dtype: float32 LoRA weights, 4 bytes"),
                      (4 * (n + q + o), "only trainable weights get gradients: the LoRA weights")],
        "optimizer_states": [(4 * n, "AdamW keeps TWO float32 states per trainable weight: 8 bytes"),
                             (2 * n, "that is 8-bit AdamW; the exercise asks for 32-bit states (8 bytes)"),
                             (8 * (n + q + o), "only the trainable (LoRA) weights have optimizer states")],
    }
    for part in PARTS:
        value = got[part]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise AssertionError(f"{part} must be a number of bytes, got {type(value).__name__}")
        if math.isclose(value, want[part], rel_tol=1e-3):
            continue
        for wrong, message in slips[part]:
            if math.isclose(value, wrong, rel_tol=1e-3):
                raise AssertionError(f"{part}: {message}")
        raise AssertionError(f"{part} is {value / 1e9:.3f} GB; expected {want[part] / 1e9:.3f} GB")
    total = sum(want.values())
    return f"Llama-2-13B QLoRA without activations: {total / 1e9:.2f} GB (the arithmetic of lorakit.memory.estimate.estimate_footprint)"


# ---------------------------------------------------------------- exercise 2: what gets paged


def reference_paged_bytes(numels: list[int], optimizer: str) -> int:
    """The answer to exercise 2: bitsandbytes 0.50 ``Optimizer8bit.get_state_buffer`` on a GPU."""
    total = 0
    for n in numels:
        if n < PAGED_MIN_NUMEL:
            continue                          # small tensors: plain device memory
        eight_bit = optimizer == "paged_adamw_8bit" and n >= MIN_8BIT_SIZE
        total += 2 * n * (1 if eight_bit else 4)  # the 8-bit scales are never paged
    return total


def _lora_numels(shapes: dict[str, tuple[int, int]], r: int, layers: int) -> list[int]:
    return [r * i for i, _ in shapes.values()] * layers + [o * r for _, o in shapes.values()] * layers


_LLAMA2_7B = {"q": (4096, 4096), "k": (4096, 4096), "v": (4096, 4096), "o": (4096, 4096),
              "gate": (4096, 11008), "up": (4096, 11008), "down": (11008, 4096)}  # (in, out)
_SHIPPED = {"q": (128, 128), "k": (128, 128), "v": (128, 128), "o": (128, 128),
            "gate": (128, 512), "up": (128, 512), "down": (512, 128)}


@exercise(2)
def check_paged_bytes(paged_bytes: Callable) -> str:
    cases = [(_lora_numels(_LLAMA2_7B, 64, 32), "paged_adamw_32bit"),
             (_lora_numels(_LLAMA2_7B, 64, 32), "paged_adamw_8bit"),
             (_lora_numels(_LLAMA2_7B, 8, 32), "paged_adamw_32bit"),
             (_lora_numels(_SHIPPED, 16, 4), "paged_adamw_32bit")]
    for numels, optimizer in cases:
        got = call(paged_bytes, list(numels), optimizer)
        want = reference_paged_bytes(numels, optimizer)
        if got == want:
            continue
        everything = sum(2 * n * (1 if optimizer.endswith("8bit") and n >= MIN_8BIT_SIZE else 4) for n in numels)
        by_bytes = sum(2 * n * 4 for n in numels if 4 * n >= PAGED_MIN_NUMEL)
        with_scales = want + sum(2 * 4 * math.ceil(n / OPTIM_8BIT_BLOCKSIZE) for n in numels
                                 if n >= PAGED_MIN_NUMEL)
        if got == everything:
            raise AssertionError(f"{optimizer}: tensors under 1e5 elements are never paged "
                                 "(bitsandbytes' get_state_buffer allocates them in plain device memory)")
        if got == by_bytes:
            raise AssertionError("the threshold counts elements (p.numel() < 1e5), not bytes")
        if optimizer == "paged_adamw_8bit" and got == with_scales:
            raise AssertionError("the 8-bit scales (absmax) are allocated with torch.zeros, never paged")
        if got == want // 2:
            raise AssertionError("AdamW keeps two states per parameter (first and second moment)")
        raise AssertionError(f"{optimizer} on {len(numels)} tensors: expected {want:,d} paged bytes, got {got}")
    return "paged bytes match bitsandbytes' rule; on the shipped model nothing is paged (every tensor < 1e5)"


# ---------------------------------------------------------------- exercise 3: what fits a GPU

PREFERENCE = [("full", "adamw_32bit"), ("full", "adamw_8bit"), ("lora", "adamw_32bit"), ("lora", "adamw_8bit"),
              ("qlora", "paged_adamw_32bit"), ("qlora", "paged_adamw_8bit")]


def reference_choice(model_name: str, gpu_gib: float, **setup) -> tuple[str, str] | None:
    """The answer to exercise 3: the first of :data:`PREFERENCE` whose estimate fits ``gpu_gib``."""
    for method, optimizer in PREFERENCE:
        fp = estimate_footprint(model_name, TrainingSetup(method=method, optimizer=optimizer, **setup))
        if fp.total <= gpu_gib * 2**30:
            return method, optimizer
    return None


# what the notebook imports that computes exercise 3's answer (and the checker's own reference)
ESTIMATORS = {"estimate_footprint": estimate_footprint, "footprint_table": footprint_table,
              "smallest_gpu": smallest_gpu, "reference_choice": reference_choice}
CHOICE_CASES = [("HuggingFaceTB/SmolLM2-360M", 16), ("meta-llama/Llama-2-7b-hf", 24),
                ("meta-llama/Llama-2-13b-hf", 16), ("meta-llama/Llama-2-13b-hf", 48),
                ("huggyllama/llama-30b", 24), ("huggyllama/llama-65b", 48)]  # something fits in each


@exercise(3)
def check_choose_setup(choose_setup: Callable) -> str:
    """Check ``choose_setup(model_name, gpu_gib) -> (method, optimizer)`` with the notebook's estimator
    (:func:`~lorakit.memory.estimate.estimate_footprint` and the tables built on it) unavailable."""
    for name, gib in CHOICE_CASES:
        want = reference_choice(name, gib)
        with without(choose_setup, ESTIMATORS):
            got = call(choose_setup, name, gib)
        if isinstance(got, list):
            got = tuple(got)
        if got == want:
            continue
        if not (isinstance(got, tuple) and len(got) == 2):
            raise AssertionError(f"return a (method, optimizer) tuple such as ('lora', 'adamw_8bit'), got {got!r}")
        if got not in PREFERENCE:
            raise AssertionError(f"{got} is not one of the options {PREFERENCE}")
        total = estimate_footprint(name, TrainingSetup(method=got[0], optimizer=got[1])).total
        if PREFERENCE.index(got) < PREFERENCE.index(want):
            raise AssertionError(f"{name} on {gib} GiB: {got} needs about {total / 2**30:.1f} GiB, it does not "
                                 "fit (compare bytes with gpu_gib * 2**30; did you count the gradients and both "
                                 "AdamW states of everything that trains?)")
        raise AssertionError(f"{name} on {gib} GiB: {want} fits and is closer to full fine-tuning than {got} "
                             f"(which needs about {total / 2**30:.1f} GiB): is a part counted twice, or in "
                             "32 bits where it is 16 or 4?")
    return ("each choice is the closest to full fine-tuning that fits, by your own estimate "
            "(leave headroom in practice: the CUDA context and temporaries are not in it)")


__all__ = ["ESTIMATORS", "check_choose_setup", "check_paged_bytes", "check_qlora_bytes", "reference_choice",
           "reference_paged_bytes", "reference_qlora_bytes"]
