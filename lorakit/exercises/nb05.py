"""Checkers for notebook 05 (merging and multi-adapter operations).

Exercise 1, ``linear_delta(As, Bs, scalings, weights)``: the ΔW that PEFT's ``linear`` combination
gives, from the adapters' factors (not the exact weighted sum: the factors are added first).
Exercise 2, ``two_task_weights()`` returning the weights for
``add_weighted_adapter(list(EXERCISE_2_ADAPTERS), weights, ..., combination_type=EXERCISE_2_TYPE)``:
weights that keep both tasks at or above :data:`EXERCISE_2_BAR` on the *validation* split (so the test
split the notebook reports stays untouched).

Each checker compares with :mod:`lorakit.lora.combine` or a fresh evaluation and names the usual
slip when the answer is wrong.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ..lora.combine import combine_linear, delta_weight
from . import call, exercise

# ---------------------------------------------------------------- exercise 1: linear on ΔW


def _linear_case(seed: int = 0):
    """Three rank-3 adapters on a (6, 5) layer, different scalings, one negative weight."""
    gen = torch.Generator().manual_seed(seed)
    As = [torch.randn(3, 5, generator=gen) for _ in range(3)]
    Bs = [torch.randn(6, 3, generator=gen) for _ in range(3)]
    return As, Bs, [2.0, 0.5, 1.0], [0.7, -0.4, 1.2]


def _linear_slips(As, Bs, scalings, weights) -> dict[str, torch.Tensor]:
    ws = [w * s for w, s in zip(weights, scalings)]
    root = [math.sqrt(abs(x)) for x in ws]
    signed = [r * (1 if x >= 0 else -1) for r, x in zip(root, ws)]
    plain = [math.sqrt(abs(w)) * (1 if w >= 0 else -1) for w in weights]

    def factors(wa, wb):
        return sum(b * c for b, c in zip(Bs, wb)) @ sum(a * c for a, c in zip(As, wa))

    return {
        "that is the exact weighted sum Σ w_i·s_i·B_i·A_i (what `cat` gives); `linear` adds the A's and the "
        "B's first, then multiplies, so B·A also holds cross terms B_i·A_j": sum(
            delta_weight(a, b, x) for a, b, x in zip(As, Bs, ws)),
        "w_i·s_i is applied to both A_i and B_i, so it counts twice; split it, √|w_i·s_i| on each factor":
            factors(ws, ws),
        "the adapters' scalings s_i (lora_alpha / r) are missing: weight each adapter by w_i·s_i":
            factors(plain, [math.sqrt(abs(w)) for w in weights]),
        "a negative weight lost its sign: put the sign of w_i·s_i on A's factor only": factors(root, root),
        "the sign of a negative weight is on both factors, so it cancels; put it on A's factor only":
            factors(signed, signed),
    }


@exercise(1, hint="split each w_i·s_i into √|w_i·s_i| for B_i and ±√|w_i·s_i| for A_i, add up, multiply")
def check_linear_delta(linear_delta: Callable) -> str:
    """Check ``linear_delta(As, Bs, scalings, weights) -> ΔW (out, in)`` against
    :func:`lorakit.lora.combine.combine_linear` (itself tested against PEFT)."""
    As, Bs, scalings, weights = _linear_case()
    got = call(linear_delta, [a.clone() for a in As], [b.clone() for b in Bs], list(scalings), list(weights))
    if isinstance(got, (tuple, list)):
        raise AssertionError("return ΔW = B·A, one (out, in) tensor, not the factors")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"linear_delta must return a tensor, got {type(got).__name__}")
    A, B = combine_linear(As, Bs, scalings, weights)
    expected = B @ A
    if got.shape != expected.shape:
        raise AssertionError(f"ΔW has shape {tuple(got.shape)}, expected {tuple(expected.shape)} = (out, in): "
                             "B (out, r) @ A (r, in)")
    if torch.allclose(got, expected, atol=1e-5, rtol=1e-5):
        return "linear_delta equals PEFT's `linear` ΔW (cross terms and all)"
    for message, wrong in _linear_slips(As, Bs, scalings, weights).items():
        if torch.allclose(got, wrong, atol=1e-5, rtol=1e-5):
            raise AssertionError(message)
    diff = (got - expected).abs().max().item()
    raise AssertionError(f"ΔW differs from PEFT's linear combination by up to {diff:.3g}")


# ---------------------------------------------------------------- exercise 2: weights above a bar

EXERCISE_2_ADAPTERS = ("qa", "lookup")
EXERCISE_2_TYPE = "svd"
EXERCISE_2_BAR = 0.8
EXERCISE_2_N = 100


@exercise(2, hint="try a few weight pairs on the validation split; what does each weight scale in ΔW?")
def check_two_task_weights(two_task_weights: Callable[[], Sequence[float]], peft_model, tokenizer,
                           shipped: bool = True, n: int = EXERCISE_2_N) -> str:
    """Check that ``add_weighted_adapter(list(EXERCISE_2_ADAPTERS), two_task_weights(), combination_type=...)``
    (:data:`EXERCISE_2_TYPE`) keeps both tasks at or above :data:`EXERCISE_2_BAR` exact match on
    ``n`` validation examples.

    ``peft_model`` must hold the adapters named in :data:`EXERCISE_2_ADAPTERS`; it is left as it was. On a model
    other than the shipped one (``shipped=False``) the adapters are trained only briefly, so the bar
    is not checked: only that the weights are two finite numbers.
    """
    from ..adapters import score
    from ..data.tasks import get_task

    weights = call(two_task_weights)
    try:
        weights = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise AssertionError(f"WEIGHTS must be two numbers, one per adapter {EXERCISE_2_ADAPTERS}") from None
    if len(weights) != len(EXERCISE_2_ADAPTERS) or not all(math.isfinite(w) for w in weights):
        raise AssertionError(f"WEIGHTS must be two finite numbers, one per adapter {EXERCISE_2_ADAPTERS}, "
                             f"got {weights}")
    if not shipped:
        return f"weights {weights} accepted (the {EXERCISE_2_BAR:.0%} bar is checked on the shipped model only)"
    active = peft_model.active_adapter
    name = "exercise_2"
    if name in peft_model.peft_config:
        peft_model.delete_adapter(name)
    peft_model.add_weighted_adapter(list(EXERCISE_2_ADAPTERS), weights, name, combination_type=EXERCISE_2_TYPE)
    try:
        peft_model.set_adapter(name)
        got = {t: score(peft_model, tokenizer, t, get_task(t).make_split("validation", n)) for t in EXERCISE_2_ADAPTERS}
    finally:
        peft_model.set_adapter(active)
        peft_model.delete_adapter(name)
    means = {t: sum(v) / len(v) for t, v in got.items()}
    shown = ", ".join(f"{t} {m:.0%}" for t, m in means.items())
    low = [t for t, m in means.items() if m < EXERCISE_2_BAR]
    if low:
        raise AssertionError(f"with weights {weights}: {shown} on {n} validation examples; "
                             f"{' and '.join(low)} below {EXERCISE_2_BAR:.0%}")
    return f"weights {weights} keep both tasks at or above {EXERCISE_2_BAR:.0%} ({shown}, {n} validation examples)"


__all__ = ["EXERCISE_2_ADAPTERS", "EXERCISE_2_BAR", "EXERCISE_2_TYPE", "check_linear_delta",
           "check_two_task_weights"]
