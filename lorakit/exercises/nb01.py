"""Checkers for notebook 01 (LoRA math and parameter counting).

Exercise 1, ``lora_forward(x, W, A, B, scaling)``: the LoRA forward pass y = x·Wᵀ + scaling·x·Aᵀ·Bᵀ.
Exercise 2, ``count_lora_by_hand(config, r, target_modules)``: LoRA's trainable parameters for a
Llama-family ``config.json``, from the config's numbers alone.

Each checker tries the learner's function on a few inputs, compares with ``lorakit``, and when the
answer is wrong recognises the usual slips (a missing scaling, grouped-query attention ignored, ...)
and says which one it is.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..count import count_lora, load_config_dict
from ..lora import LoRALinear

# ---------------------------------------------------------------- exercise 1: the forward pass


def _forward_case(seed: int = 0):
    """x (2, 3, 6), W (4, 6), A (2, 6), B (4, 2): non-square, so a transposed matrix cannot pass."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 6, generator=gen)
    W = torch.randn(4, 6, generator=gen)
    A = torch.randn(2, 6, generator=gen)
    B = torch.randn(4, 2, generator=gen)
    return x, W, A, B, 0.75


def _reference_forward(x, W, A, B, scaling) -> torch.Tensor:
    """The answer, computed by lorakit's LoRALinear with the same weights."""
    layer = LoRALinear(torch.nn.Linear(W.shape[1], W.shape[0], bias=False), r=A.shape[0], lora_alpha=1)
    with torch.no_grad():
        layer.base_layer.weight.copy_(W)
        layer.lora_A.weight.copy_(A)
        layer.lora_B.weight.copy_(B)
    layer.scaling = scaling
    with torch.no_grad():
        return layer(x)


def _forward_slips(x, W, A, B, scaling) -> dict[str, torch.Tensor]:
    base, update = x @ W.T, x @ A.T @ B.T
    return {
        "you returned only the base output x·Wᵀ; add the LoRA branch scaling·x·Aᵀ·Bᵀ": base,
        "the LoRA branch is missing its factor `scaling` (alpha / r)": base + update,
        "you returned only the LoRA branch; add the frozen layer's output x·Wᵀ": scaling * update,
        "the scaling is applied to the base output instead of the LoRA branch": scaling * base + update,
    }


def check_lora_forward(lora_forward: Callable) -> None:
    """Check ``lora_forward(x, W, A, B, scaling)`` against :class:`lorakit.lora.LoRALinear`.

    Shapes: x (..., in), W (out, in), A (r, in), B (out, r); the result is (..., out).
    """
    x, W, A, B, scaling = _forward_case()
    inputs = [t.clone() for t in (x, W, A, B)]
    try:
        got = lora_forward(x, W, A, B, scaling)
    except NotImplementedError:
        raise
    except RuntimeError as err:  # typically a shape mismatch in a matmul
        raise AssertionError(
            f"lora_forward raised {type(err).__name__}: {err}\nWith x {tuple(x.shape)}, W {tuple(W.shape)}, "
            f"A {tuple(A.shape)} = (r, in), B {tuple(B.shape)} = (out, r): x @ A.T is (..., r), "
            "then @ B.T gives (..., out).") from None
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"lora_forward must return a tensor, got {type(got).__name__}")
    if any(not torch.equal(a, b) for a, b in zip(inputs, (x, W, A, B))):
        raise AssertionError("lora_forward changed one of its inputs in place; compute a new tensor instead")
    expected = _reference_forward(x, W, A, B, scaling)
    if got.shape != expected.shape:
        raise AssertionError(f"the output has shape {tuple(got.shape)}, expected {tuple(expected.shape)} "
                             "= (..., out_features): keep x's leading dimensions")
    if not torch.allclose(got, expected, atol=1e-5, rtol=1e-5):
        for message, wrong in _forward_slips(x, W, A, B, scaling).items():
            if torch.allclose(got, wrong, atol=1e-5, rtol=1e-5):
                raise AssertionError(message)
        diff = (got - expected).abs().max().item()
        raise AssertionError(f"the output differs from LoRALinear's by up to {diff:.3g}: "
                             "expected x @ W.T + scaling * (x @ A.T @ B.T)")
    print("Correct: lora_forward matches lorakit.lora.LoRALinear.")


# ---------------------------------------------------------------- exercise 2: counting by hand

CHECK_CONFIGS = ("HuggingFaceTB/SmolLM2-135M", "meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1")
CHECK_TARGETS = (["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def _linear_shapes(config: dict, gqa: bool = True) -> dict[str, tuple[int, int]]:
    """(in, out) of each Llama linear layer; ``gqa=False`` is the slip of ignoring KV heads."""
    d, ff = config["hidden_size"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or d // heads
    kv = config.get("num_key_value_heads") or heads
    kv_out = kv * head_dim if gqa else d
    return {"q_proj": (d, heads * head_dim), "k_proj": (d, kv_out), "v_proj": (d, kv_out),
            "o_proj": (heads * head_dim, d), "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}


def _count_slips(config: dict, r: int, targets: Sequence[str]) -> dict[str, int]:
    layers = config["num_hidden_layers"]
    right, no_gqa = _linear_shapes(config), _linear_shapes(config, gqa=False)
    per_layer = sum(r * sum(right[t]) for t in targets)
    return {
        "k_proj and v_proj output num_key_value_heads * head_dim features, not hidden_size "
        "(grouped-query attention)": layers * sum(r * sum(no_gqa[t]) for t in targets),
        "you counted one layer; multiply by num_hidden_layers": per_layer,
        "you counted the full matrices (in * out); LoRA trains A (r, in) and B (out, r): r * (in + out)":
            layers * sum(right[t][0] * right[t][1] for t in targets),
        "you counted only A or only B per layer; a LoRA pair is A (r, in) plus B (out, r)":
            layers * sum(r * right[t][0] for t in targets),
        "you left out the rank: each layer adds r * (in + out)": layers * sum(sum(right[t]) for t in targets),
    }


def check_lora_count(count_lora_by_hand: Callable) -> None:
    """Check ``count_lora_by_hand(config: dict, r: int, target_modules: list[str]) -> int``.

    ``config`` is a Llama-family ``config.json`` as a dict; the answer is compared with
    :func:`lorakit.count.count_lora`, which builds the model on the meta device.
    """
    for name in CHECK_CONFIGS:
        for targets in CHECK_TARGETS:
            for r in (8, 16):
                config = load_config_dict(name)
                got = count_lora_by_hand(dict(config), r, list(targets))
                expected = count_lora(name, targets, r).trainable
                if got == expected:
                    continue
                where = f"{name}, r={r}, targets {targets}: got {got:,}, expected {expected:,}"
                for message, wrong in _count_slips(config, r, targets).items():
                    if got == wrong:
                        raise AssertionError(f"{message}\n({where})")
                raise AssertionError(f"wrong count for {where}; per layer, sum r * (in + out) over the "
                                     "targets, then multiply by num_hidden_layers")
    print(f"Correct: your counts match lorakit.count on {len(CHECK_CONFIGS)} architectures.")
