"""Checkers for notebook 01 (LoRA math and parameter counting).

Exercise 1, ``lora_branch_macs(tokens, d_in, d_out, r) -> (thin, formed)``: the multiply-adds of the
LoRA branch for a batch of ``tokens`` tokens, computed the thin way, (x·Aᵀ)·Bᵀ, and by forming
ΔW = B·A first, then x·ΔWᵀ. It answers "why never form B·A?" with numbers.
Exercise 2, ``count_lora_by_hand(config, r, target_modules) -> int``: LoRA's trainable parameters
for a Llama-family ``config.json``, from the config's numbers alone.

Both follow :mod:`lorakit.exercises`: a stub returning ``None`` is "not done yet", a wrong answer is
named when it matches a usual slip (a missing factor, grouped-query attention ignored, ...).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from lorakit.count import count_lora, load_config_dict, meta_model
from lorakit.exercises import call, exercise, named_slip, without

# ---------------------------------------------------------------- exercise 1: multiply-adds

MACS_CASES = ((1, 4096, 4096, 8), (16, 4096, 11008, 8), (3, 40, 24, 4), (128, 512, 128, 16))


def branch_macs(tokens: int, d_in: int, d_out: int, r: int) -> tuple[int, int]:
    """The answer: (thin, formed) multiply-adds of the LoRA branch on ``tokens`` tokens.

    Thin: x (T, in) @ Aᵀ (in, r) costs T·in·r, then (T, r) @ Bᵀ (r, out) costs T·r·out.
    Formed: B (out, r) @ A (r, in) costs out·r·in, then x (T, in) @ ΔWᵀ (in, out) costs T·in·out.
    """
    return tokens * r * (d_in + d_out), d_out * r * d_in + tokens * d_in * d_out


def _macs_slips(tokens: int, d_in: int, d_out: int, r: int) -> dict[str, tuple[int, int]]:
    thin, formed = branch_macs(tokens, d_in, d_out, r)
    return {
        "the answer is (thin, formed): you swapped them": (formed, thin),
        "the thin way costs something for every token: multiply by `tokens`": (r * (d_in + d_out), formed),
        "forming ΔW = B·A is a matmul too: (out, r) @ (r, in) costs out·r·in": (thin, tokens * d_in * d_out),
        "after forming ΔW you still multiply every token by it: T·in·out": (thin, d_out * r * d_in),
        "the thin way is two matmuls whose costs add, T·in·r + T·r·out, not multiply": (tokens * d_in * r * d_out, formed),
    }


@exercise(1)
def check_lora_macs(lora_branch_macs: Callable) -> str:
    """Check ``lora_branch_macs(tokens, d_in, d_out, r) -> (thin, formed)`` on a few shapes."""
    for tokens, d_in, d_out, r in MACS_CASES:
        got = call(lora_branch_macs, tokens, d_in, d_out, r)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError(f"return two numbers, (thin, formed); got {got!r}")
        got = tuple(int(g) for g in got)
        expected = branch_macs(tokens, d_in, d_out, r)
        if got == expected:
            continue
        where = f"(tokens={tokens}, d_in={d_in}, d_out={d_out}, r={r}: got {got}, expected {expected})"
        raise AssertionError(f"{named_slip(got, _macs_slips(tokens, d_in, d_out, r)) or 'wrong count'} {where}")
    thin, formed = branch_macs(1, 4096, 4096, 8)
    return (f"one token through a 4096 x 4096 layer at r = 8: {thin:,} multiply-adds the thin way, "
            f"{formed:,} forming B·A first ({formed // thin:,}x more)")


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


@exercise(2)
def check_lora_count(count_lora_by_hand: Callable) -> str:
    """Check ``count_lora_by_hand(config: dict, r: int, target_modules: list[str]) -> int``.

    ``config`` is a Llama-family ``config.json`` as a dict; the answer is compared with
    :func:`lorakit.count.count_lora`, which builds the model on the meta device.
    """
    for name in CHECK_CONFIGS:
        for targets in CHECK_TARGETS:
            for r in (8, 16):
                config = load_config_dict(name)
                with without(count_lora_by_hand, {"count_lora": count_lora, "meta_model": meta_model}):
                    got = call(count_lora_by_hand, dict(config), r, list(targets))
                expected = count_lora(name, targets, r).trainable
                if got == expected:
                    continue
                where = f"({name}, r={r}, targets {targets}: got {got!r}, expected {expected:,})"
                slip = named_slip(got, _count_slips(config, r, targets))
                raise AssertionError(f"{slip} {where}" if slip else f"wrong count {where}; per layer, sum "
                                     "r * (in + out) over the targets, then multiply by num_hidden_layers")
    return f"your counts match lorakit.count on {len(CHECK_CONFIGS)} architectures, 2 target sets, r = 8 and 16"
