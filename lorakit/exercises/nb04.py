"""Checkers for notebook 04 (QLoRA with paged optimizers).

Exercise 1, ``qlora_bytes(n_quantized, n_other, n_lora)``: a QLoRA footprint by hand, without
activations: NF4 + double quantization for the decoder's linear weights, 16-bit for the rest,
float32 LoRA weights and gradients, AdamW with 32-bit states.
Exercise 2, ``paged_bytes(numels, optimizer)``: how many optimizer-state bytes bitsandbytes puts in
paged (unified) memory, for trainable tensors of the given sizes.
Exercise 3, ``choose_setup(model_name, gpu_gib)``: the fine-tuning method and optimizer closest to
full fine-tuning that fits a GPU giving PyTorch ``gpu_gib`` GiB, with ``FIT_MARGIN_GIB`` kept free.
Exercise 4, ``my_qlora(model_id)`` and ``predict_qlora(model_name, lora_config)``: the real thing.
The learner's own QLoRA (``BitsAndBytesConfig``, ``prepare_model_for_kbit_training``, a ``LoraConfig``
of their choosing) is applied to the shipped model and trained for one step; the learner's prediction
of its trainable weights must be exact there, and of its training memory on a 7B-70B architecture of
their choice (``data/architectures/``) within 15% of the estimator; the same on a second (7B or 13B)
architecture, for their config and for :data:`CHECKER_CONFIGS`, where a total matching a usual slip is
named even inside 15%. The model must be prepared (gradient checkpointing on), and the training step runs
on the model's device (a GPU when bitsandbytes put it there).

Each checker compares with :mod:`lorakit.memory.estimate` (itself checked against measured bytes)
and names the usual slip when the answer is wrong. Exercise 3 runs the learner's function with the
notebook's estimator unavailable: the estimate is the learner's own (exercise 1's parts, per method).
"""
from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import replace

import torch

from lorakit.count.lora import count_lora, lora_parameter_count, lora_table
from lorakit.memory.estimate import (FIT_MARGIN_GIB, MIN_8BIT_SIZE, OPTIM_8BIT_BLOCKSIZE, PAGED_MIN_NUMEL,
                                     TrainingSetup, activation_bytes, estimate_footprint,
                                     estimate_optimizer_states, fits, footprint_table, smallest_gpu)
from lorakit.exercises import call, exercise, named_slip, without

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
    return (f"Llama-2-13B QLoRA without activations: {total / 1e9:.2f} GB (estimate_footprint's arithmetic with "
            "kbit_upcast=False; PEFT's prepare_model_for_kbit_training upcasts n_other to float32, 4 bytes)")


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


def reference_choice(model_name: str, gpu_gib: float, margin_gib: float = FIT_MARGIN_GIB,
                     **setup) -> tuple[str, str] | None:
    """The answer to exercise 3: the first of :data:`PREFERENCE` whose estimate fits ``gpu_gib`` GiB
    with ``margin_gib`` kept free (:func:`lorakit.memory.estimate.fits`)."""
    for method, optimizer in PREFERENCE:
        fp = estimate_footprint(model_name, TrainingSetup(method=method, optimizer=optimizer, **setup))
        if fits(fp.total, gpu_gib, margin_gib):
            return method, optimizer
    return None


# what the notebook imports that computes exercise 3's answer (and the checker's own reference)
ESTIMATORS = {"estimate_footprint": estimate_footprint, "footprint_table": footprint_table,
              "smallest_gpu": smallest_gpu, "reference_choice": reference_choice}
# something fits in each, and each verdict is the same whether n_other is counted in 16 or 32 bits and the
# activations are counted or left out (tests/exercises/test_nb04.py checks this); a T4 gives PyTorch 14.7 GiB
# (GPUS_GIB), and Llama-2-7B on it changes its verdict when the 1 GiB margin is left out
CHOICE_CASES = [("HuggingFaceTB/SmolLM2-360M", 14.7), ("meta-llama/Llama-2-7b-hf", 14.7),
                ("meta-llama/Llama-2-7b-hf", 24),
                ("meta-llama/Llama-2-13b-hf", 14.7), ("meta-llama/Llama-2-13b-hf", 48),
                ("meta-llama/Llama-2-13b-hf", 80), ("huggyllama/llama-30b", 48), ("huggyllama/llama-65b", 48)]


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
        if got == reference_choice(name, gib, margin_gib=0):
            raise AssertionError(f"{name} on {gib} GiB: {got} fills the card to the last byte; keep "
                                 f"{FIT_MARGIN_GIB:g} GiB free (FIT_MARGIN_GIB: the CUDA context, fragmentation), "
                                 f"so compare bytes with (gpu_gib - {FIT_MARGIN_GIB:g}) * 2**30")
        if got == reference_choice(name, gib, double_quant=False):
            raise AssertionError(f"{name} on {gib} GiB: {got} is the choice with NF4 at 4.5 bits, its float32 block "
                                 "scales; double quantization stores them in 8 bits: 4.127 bits a weight")
        if PREFERENCE.index(got) < PREFERENCE.index(want):
            raise AssertionError(f"{name} on {gib} GiB: {got} needs about {total / 2**30:.1f} GiB, it does not "
                                 f"fit (compare bytes with (gpu_gib - {FIT_MARGIN_GIB:g}) * 2**30; did you count the "
                                 "gradients and both AdamW states of everything that trains, the activations, and "
                                 "QLoRA's unquantized weights in float32?)")
        raise AssertionError(f"{name} on {gib} GiB: {want} fits and is closer to full fine-tuning than {got} "
                             f"(which needs about {total / 2**30:.1f} GiB): is a part counted twice, or in "
                             "32 bits where it is 16 or 4?")
    return (f"each choice is the closest to full fine-tuning that fits with {FIT_MARGIN_GIB:g} GiB kept free, "
            "by your own estimate (on a real run, check torch.cuda.max_memory_allocated: temporaries are not "
            "in it)")


# ---------------------------------------------------------------- exercise 4: your own QLoRA, for real

SHIPPED = "tiny-lm"
LARGE_CONFIGS = ("meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-13b-hf",
                 "huggyllama/llama-30b", "huggyllama/llama-65b", "meta-llama/Llama-2-70b-hf")
NOTEBOOK_TARGETS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
NOTEBOOK_RANK = 16            # §2: all-linear at r = 16
MEMORY_TOLERANCE = 0.15
SLIP_TOLERANCE = 0.01         # a prediction this close to a named slip's total (and closer to it than to a right
                              # total, with or without activations) is that slip, even inside MEMORY_TOLERANCE
# the checker's own LoRA configs, predicted on a 7B or 13B model: their LoRA part is about a third of the memory,
# so a prediction that ignores the config (e.g. 0.65 bytes a parameter: -28% to -40%) is caught
CHECKER_CONFIGS = ({"r": 64, "lora_alpha": 16, "target_modules": "all-linear"},
                   {"r": 256, "lora_alpha": 512, "target_modules": ["q_proj", "v_proj"]})


def qlora_setup(lora_config) -> TrainingSetup:
    """Exercise 4's setting for a ``LoraConfig``: QLoRA as PEFT runs it, batch 1 × 512 tokens, paged AdamW
    32-bit, gradient checkpointing, bf16 compute, float32 adapters, unquantized weights upcast to float32."""
    targets = lora_config.target_modules
    if isinstance(targets, str) and targets.lower() != "all-linear":
        raise AssertionError(f"target_modules={targets!r} is a pattern; give a list of module names "
                             "(e.g. [\"q_proj\", \"v_proj\"]) or \"all-linear\"")
    targets = targets if isinstance(targets, str) else tuple(sorted(targets))
    return TrainingSetup(method="qlora", r=int(lora_config.r), target_modules=targets)


def reference_prediction(model_name: str, lora_config) -> dict[str, float]:
    """The answer to exercise 4's prediction: ``{"trainable": LoRA weights, "bytes": one step's memory}``."""
    fp = estimate_footprint(model_name, qlora_setup(lora_config))
    return {"trainable": int(fp.lora_weights) // 4, "bytes": fp.total}


# what computes exercise 4's prediction for the learner (the estimator, the counters built on it)
PREDICTORS = {**ESTIMATORS, "reference_prediction": reference_prediction, "activation_bytes": activation_bytes,
              "estimate_optimizer_states": estimate_optimizer_states, "count_lora": count_lora,
              "lora_parameter_count": lora_parameter_count, "lora_table": lora_table}


def _memory_slips(model_name: str, lora_config) -> dict[str, float]:
    """Totals that the usual slips give, each with and without the activations."""
    setup = qlora_setup(lora_config)
    ref = estimate_footprint(model_name, setup)
    n_lora = ref.lora_weights / 4
    slips = {
        "the unquantized weights (embeddings, norms, lm_head) are float32 after prepare_model_for_kbit_training, "
        "not 16-bit": estimate_footprint(model_name, replace(setup, kbit_upcast=False)),
        "PEFT keeps the LoRA weights, and so their gradients, in float32 (4 bytes), not bf16":
            estimate_footprint(model_name, replace(setup, adapter_dtype="bf16")),
        "paged_adamw_32bit keeps two float32 states per LoRA weight (8 bytes), not 8-bit ones":
            estimate_footprint(model_name, replace(setup, optimizer="paged_adamw_8bit")),
        "that is LoRA on a 16-bit base: QLoRA stores the decoder's linear weights in NF4 (about 4.127 bits)":
            estimate_footprint(model_name, replace(setup, method="lora")),
        "4 bytes per LoRA weight are missing: a float32 gradient each, and AdamW's TWO float32 states":
            replace(ref, optimizer_states=ref.optimizer_states - 4 * n_lora),
    }
    out = {}
    for message, fp in slips.items():
        out[message] = fp.total
        out[message + " "] = fp.total - fp.activations      # the same slip, activations left out
    out["those are bits, not bytes"] = 8 * ref.total
    out["those are bits, not bytes "] = 8 * (ref.total - ref.activations)
    return out


def _nearest_slip(total: float, model_name: str, lora_config) -> str | None:
    """The slip whose total ``total`` matches (within :data:`SLIP_TOLERANCE`) when it is nearer to that slip than
    to a right total (with or without the activations); else ``None``."""
    fp = estimate_footprint(model_name, qlora_setup(lora_config))
    rights = (fp.total, fp.total - fp.activations)
    right = min(abs(total / t - 1) for t in rights)
    # only slips that stand apart from the right totals (with a small LoRA, 8-bit states or bf16 adapters do not)
    apart = {m: t for m, t in _memory_slips(model_name, lora_config).items()
             if min(abs(t / r - 1) for r in rights) > 3 * SLIP_TOLERANCE}
    if not apart:
        return None
    message, slip_total = min(apart.items(), key=lambda kv: abs(total / kv[1] - 1))
    off = abs(total / slip_total - 1)
    return message if off <= SLIP_TOLERANCE and off < right else None


def _other_config(model_name: str) -> str:
    """A second large architecture, so a prediction that only knows the learner's model is caught."""
    return "mistralai/Mistral-7B-v0.1" if model_name == "meta-llama/Llama-2-13b-hf" else "meta-llama/Llama-2-13b-hf"


def _record_batch(tokenizer, n: int = 8) -> dict[str, torch.Tensor]:
    """A training batch of the record task (notebook 04 trained qa)."""
    from lorakit.data.tasks import TASKS
    from lorakit.training.loop import collate, encode_pairs

    task = TASKS["record"]
    pairs = [task.format_example(e) for e in task.make_split("train", n)]
    return collate(encode_pairs(tokenizer, pairs), tokenizer.pad_token_id)


def _check_model(model) -> tuple[object, int]:
    """The checks on the learner's PEFT model; returns (its LoraConfig, its trainable weights)."""
    import bitsandbytes as bnb
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        raise AssertionError(f"my_qlora returned a {type(model).__name__}: return get_peft_model's result, the "
                             "PEFT model")
    four_bit = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    if not four_bit:
        raise AssertionError("no layer is in 4 bits: load with quantization_config=BitsAndBytesConfig(load_in_4bit="
                             "True, ...)")
    kinds = {m.weight.quant_type for m in four_bit}
    if kinds != {"nf4"}:
        raise AssertionError(f"the 4-bit layers use {sorted(kinds)}: bitsandbytes' default is FP4, ask for "
                             "bnb_4bit_quant_type=\"nf4\" by name")
    if not all(getattr(m.weight.quant_state, "nested", False) for m in four_bit):
        raise AssertionError("double quantization is off: the block scales stay float32 "
                             "(bnb_4bit_use_double_quant=True)")
    for name, p in model.named_parameters():
        if p.dtype != torch.uint8 and "lora_" not in name and p.dtype != torch.float32:
            raise AssertionError(f"{name} is {str(p.dtype).replace('torch.', '')}: prepare_model_for_kbit_training "
                                 "casts the unquantized weights to float32 (did you skip it?)")
    if not any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules()):
        raise AssertionError("gradient checkpointing is off: prepare_model_for_kbit_training turns it on (its "
                             "default), and the memory setting assumes it (did you skip the preparation?)")
    trains = [name for name, p in model.named_parameters() if p.requires_grad]
    if not trains:
        raise AssertionError("nothing trains: attach LoRA with get_peft_model after preparing the model")
    if any("lora_" not in name for name in trains):
        other = next(name for name in trains if "lora_" not in name)
        raise AssertionError(f"{other} trains too: only the LoRA weights should (no modules_to_save, bias='none')")
    config = model.peft_config[model.active_adapter]
    targets = config.target_modules
    same = (isinstance(targets, str) and targets.lower() == "all-linear") or set(targets or ()) == NOTEBOOK_TARGETS
    if same and config.r == NOTEBOOK_RANK:
        raise AssertionError("that is the notebook's LoRA (every linear layer, r = 16): choose your own targets "
                             "or rank")
    return config, sum(p.numel() for p in model.parameters() if p.requires_grad)


def _one_step(model) -> float:
    """One real training step of the learner's model on a record batch; returns the loss."""
    import bitsandbytes as bnb
    from lorakit.models.loading import load_tokenizer

    tokenizer = load_tokenizer(SHIPPED)
    batch = {k: v.to(model.device) for k, v in _record_batch(tokenizer).items()}   # on a GPU: where bnb put it
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in params.items()}
    opt = bnb.optim.PagedAdamW32bit(list(params.values()), lr=1e-3)
    model.train()
    loss = model(**batch, use_cache=False).loss
    if not torch.isfinite(loss):
        raise AssertionError(f"the first training step's loss is {loss.item()}: the model is not trainable as set up")
    loss.backward()
    missing = [n for n, p in params.items() if p.grad is None]
    if missing:
        raise AssertionError(f"{missing[0]} got no gradient in a training step (is the LoRA layer on the path?)")
    opt.step()
    if not any((p.detach() != before[n]).any() for n, p in params.items() if "lora_B" in n):
        raise AssertionError("one optimizer step left every lora_B unchanged: the adapter does not train")
    return loss.item()


def _prediction(predict_qlora: Callable, name: str, config) -> tuple[int, float]:
    with without(predict_qlora, PREDICTORS), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # PEFT on a meta model: "base_model_name_or_path was renamed"
        got = call(predict_qlora, name, copy.deepcopy(config))
    if not isinstance(got, dict) or not {"trainable", "bytes"} <= set(got):
        raise AssertionError(f"predict_qlora returns a dict {{\"trainable\": ..., \"bytes\": ...}}, got {got!r}")
    trainable, total = got["trainable"], got["bytes"]
    for key, value in (("trainable", trainable), ("bytes", total)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AssertionError(f"{key} must be a number, got {value!r}")
    return trainable, float(total)


@exercise(4)
def check_my_qlora(my_qlora: Callable, predict_qlora: Callable, model_name: str | None = None) -> str:
    """Check the learner's QLoRA on the shipped model (one real training step) and their predictions of
    its trainable weights (exact) and of its memory on ``model_name`` (within 15% of the estimator)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = call(my_qlora, SHIPPED)
        config, n_trainable = _check_model(model)
        loss = _one_step(model)
    predicted, _ = _prediction(predict_qlora, SHIPPED, config)
    if predicted != n_trainable:
        hint = ""
        if predicted * 2 == n_trainable or abs(predicted - n_trainable / 2) < n_trainable * 0.2:
            hint = " (count both factors: A is r x in, B is out x r)"
        raise AssertionError(f"on the shipped model your LoRA trains {n_trainable:,d} weights; you predicted "
                             f"{predicted:,d}{hint}")
    if model_name not in LARGE_CONFIGS:
        raise AssertionError(f"model_name is {model_name!r}: choose one of {list(LARGE_CONFIGS)} (data/architectures/)")
    from peft import LoraConfig

    other = _other_config(model_name)
    checks = [(model_name, config, "your LoRA"), (other, config, "your LoRA")]
    checks += [(other, LoraConfig(task_type="CAUSAL_LM", **c), f"LoRA r = {c['r']} on "
                + (c["target_modules"] if isinstance(c["target_modules"], str) else "/".join(c["target_modules"])))
               for c in CHECKER_CONFIGS]
    lines = []
    for name, lora_config, which in checks:
        want = reference_prediction(name, lora_config)
        trainable, total = _prediction(predict_qlora, name, lora_config)
        if trainable != want["trainable"]:
            raise AssertionError(f"{name}, {which}: it has {want['trainable']:,d} weights there; you predicted "
                                 f"{trainable:,d} (mind grouped-query attention: k_proj and v_proj can be narrower)")
        error = total / want["bytes"] - 1
        slip = _nearest_slip(total, name, lora_config) if name == other else None   # 7B/13B: separable
        if abs(error) > MEMORY_TOLERANCE or slip:
            slip = slip or named_slip(total, _memory_slips(name, lora_config),
                                      same=lambda a, b: math.isclose(a, b, rel_tol=0.02))
            raise AssertionError(f"{name}, {which}: you predicted {total / 2**30:.2f} GiB, the estimator "
                                 f"{want['bytes'] / 2**30:.2f} GiB ({error:+.0%}"
                                 + (", more than 15% off" if abs(error) > MEMORY_TOLERANCE else "") + ")"
                                 + (f": {slip.strip()}" if slip else ""))
        lines.append(f"{name.split('/')[-1]} {which} {total / 2**30:.2f} GiB ({error:+.1%})")
    return (f"your QLoRA (r = {config.r}, {n_trainable:,d} LoRA weights on the shipped model) trained a step on the "
            f"record task (loss {loss:.2f}); predictions within 15% of the estimator: {', '.join(lines)}")


__all__ = ["ESTIMATORS", "LARGE_CONFIGS", "PREDICTORS", "check_choose_setup", "check_my_qlora", "check_paged_bytes",
           "check_qlora_bytes", "CHECKER_CONFIGS", "qlora_setup", "reference_choice", "reference_paged_bytes", "reference_prediction",
           "reference_qlora_bytes"]
