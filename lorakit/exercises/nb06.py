"""Checkers for notebook 06 (QA-LoRA against QLoRA).

Exercise 1, ``pool_groups(x, group_size)``: the paper's group pooling, (..., in) -> (..., in // group_size).
Exercise 2, ``merged_zeros_mean_pool(zeros, scales, A, B, scaling, group_size)``: the zero points after
merging an adapter trained with *mean* pooling (the paper's code, ``nn.AvgPool1d``), derived by hand.
Exercise 3, ``max_update_rank(out_features, in_features, r, group_size)``: the largest rank a QA-LoRA
update ΔW can have.
Exercise 4, ``pick_format(weights, budget)``: the real thing. Measure, with the notebook's quantizer,
the storage and the round-trip error of every format (2, 3 or 4 bits; groups of 16 to 128) on real
weights, and return the format that fits a bits-per-weight budget with the least error. Graded by
the checker's own measurement on the shipped model's weights and on a layer with outliers.

Each checker tries the learner's function on a few inputs, compares with :mod:`lorakit.qalora`, and
when the answer is wrong recognises the usual slips (mean instead of sum, strided groups, the sign of
the shift, the factor of the group size, a forgotten bound) and names them.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from lorakit.exercises import NotDone, Shortcut, call, exercise, named_slip, without
from lorakit.qalora import pool_groups as reference_pool


def _tensor(got, name: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{name} must return a torch.Tensor, got {type(got).__name__}")
    return got


def _slip(got: torch.Tensor, slips: dict[str, torch.Tensor]) -> str | None:
    return named_slip(got, slips, lambda a, b: a.shape == b.shape
                      and torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6))


# ---------------------------------------------------------------- exercise 1: group pooling


@exercise(1)
def check_pool_groups(pool_groups: Callable) -> str:
    """``pool_groups(x, group_size)``: sum over consecutive groups; any leading dimensions."""
    x = torch.randn(2, 3, 12, generator=torch.Generator().manual_seed(6))
    for shape, g in (((2, 3, 12), 4), ((12,), 3), ((5, 12), 12)):
        xs = x.reshape(-1)[: torch.Size(shape).numel()].reshape(shape)
        original = xs.clone()
        with without(pool_groups, {"lorakit.qalora.pool_groups": reference_pool}):   # cell 5 imports it
            got = _tensor(call(pool_groups, xs, g), "pool_groups")
        if not torch.equal(xs, original):
            raise AssertionError("pool_groups changed its input in place; compute a new tensor instead")
        expected = reference_pool(xs, g)
        if got.shape != expected.shape:
            raise AssertionError(f"for x of shape {shape} and group_size {g} the result has shape "
                                 f"{tuple(expected.shape)} (one value per group, leading dimensions kept); "
                                 f"you returned {tuple(got.shape)}")
        n_groups = shape[-1] // g
        slips = {
            "that is the mean of each group; the paper sums (Algorithm 1), so multiply by group_size, or "
            "use .sum()": expected / g,
            "that is PEFT's variant (the mean times the number of groups); the paper's pooling is the plain sum":
                expected / g * n_groups,
            "your groups are strided (features i, i + L, i + 2L, ...); QA-LoRA's groups are consecutive "
            "features, the same ones that share a scale and zero point":
                xs.unflatten(-1, (g, n_groups)).sum(-2),
        }
        if not torch.allclose(got.float(), expected, rtol=1e-5, atol=1e-6):
            raise AssertionError(_slip(got, slips) or f"for x of shape {shape} and group_size {g} the sums differ "
                                 f"from x.unflatten(-1, (-1, {g})).sum(-1) by up to "
                                 f"{(got.float() - expected).abs().max().item():.3g}")
    return "pool_groups sums consecutive groups, for any leading dimensions"


# ---------------------------------------------------------------- exercise 2: the zero-point update


def _merge_case(seed: int = 7):
    gen = torch.Generator().manual_seed(seed)
    out, n_groups, r, g = 6, 4, 3, 8
    zeros = torch.randint(0, 16, (out, n_groups), generator=gen).float()
    scales = torch.rand(out, n_groups, generator=gen) * 0.05 + 0.01
    A = torch.randn(r, n_groups, generator=gen)
    B = torch.randn(out, r, generator=gen) * 0.1
    return zeros, scales, A, B, 0.5, g


def _mean_pool_layer_check(fn_zeros: torch.Tensor, zeros, scales, A, B, scaling, g) -> bool:
    """Independent check: a layer with mean pooling, merged with fn_zeros, gives the same output."""
    codes = torch.randint(0, 16, (zeros.shape[0], zeros.shape[1] * g), generator=torch.Generator().manual_seed(8))
    x = torch.randn(5, codes.shape[1], generator=torch.Generator().manual_seed(9))

    def weight(z):
        return (scales[..., None] * (codes.float().unflatten(1, (-1, g)) - z[..., None])).flatten(1)

    unmerged = x @ weight(zeros).T + (x.unflatten(-1, (-1, g)).mean(-1) @ A.T @ B.T) * scaling
    merged = x @ weight(fn_zeros).T
    return torch.allclose(merged, unmerged, rtol=1e-4, atol=1e-5)


@exercise(2)
def check_merged_zeros_mean_pool(merged_zeros_mean_pool: Callable) -> str:
    """``merged_zeros_mean_pool(zeros, scales, A, B, scaling, group_size) -> (out, L)`` new zero points."""
    zeros, scales, A, B, scaling, g = _merge_case()
    args = [t.clone() for t in (zeros, scales, A, B)]
    got = _tensor(call(merged_zeros_mean_pool, *args, scaling, g), "merged_zeros_mean_pool")
    if any(not torch.equal(a, b) for a, b in zip(args, (zeros, scales, A, B))):
        raise AssertionError("merged_zeros_mean_pool changed an input in place (e.g. zeros -= ...); "
                             "return a new tensor")
    if got.shape != zeros.shape:
        raise AssertionError(f"the zero points have shape {tuple(zeros.shape)} = (out_features, n_groups), like "
                             f"B @ A; you returned {tuple(got.shape)} (a transposed B·A? GPTQ stores zeros as "
                             "(n_groups, out), which is why the paper's merge.py has a .t())")
    delta = (B @ A) * scaling                                          # (out, L)
    expected = zeros - delta / g / scales
    slips = {
        "the sign is flipped: W = scales·(codes − zeros), so to ADD Δ to the weight you SUBTRACT Δ/scales "
        "from the zero point": zeros + delta / g / scales,
        "that is the update for SUM pooling; with the mean, each weight only gains s·(B·A)/group_size":
            zeros - delta / scales,
        "the zero point counts steps of the grid: divide the weight change by scales (you multiplied)":
            zeros - delta / g * scales,
        "you forgot to divide by scales: the zero point is in units of the quantization step":
            zeros - delta / g,
        "the factor `scaling` (α / r) is missing": zeros - (B @ A) / g / scales,
    }
    if not torch.allclose(got.float(), expected, rtol=1e-5, atol=1e-6):
        raise AssertionError(_slip(got, slips) or "these zero points do not reproduce the unmerged layer's output; "
                             f"max difference from the expected ones {(got.float() - expected).abs().max().item():.3g}")
    if not _mean_pool_layer_check(got.float(), zeros, scales, A, B, scaling, g):
        raise AssertionError("the merged layer's output differs from the unmerged one")
    return "zeros − s·(B·A) / (group_size · scales): the paper's merge.py, and the merged output is unchanged"


# ---------------------------------------------------------------- exercise 3: the largest rank


CASES = [  # (out, in, r, group_size)
    (128, 128, 16, 32), (128, 128, 16, 128), (512, 128, 16, 32), (128, 512, 16, 32),
    (4096, 4096, 64, 32), (8, 128, 16, 8), (4096, 11008, 64, 128), (96, 96, 2, 32),
]


def _rank(out, inp, r, g) -> int:
    return min(r, inp // g, out)


@exercise(3)
def check_max_update_rank(max_update_rank: Callable) -> str:
    """``max_update_rank(out_features, in_features, r, group_size) -> int``."""
    for out, inp, r, g in CASES:
        got = call(max_update_rank, out, inp, r, g)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, int) and not (isinstance(got, float) and got.is_integer()):
            raise AssertionError(f"max_update_rank must return an int, got {got!r}")
        expected = _rank(out, inp, r, g)
        if int(got) != expected:
            case = f"out={out}, in={inp}, r={r}, group_size={g}"
            if int(got) == min(r, out, inp):
                why = "the pooling limits it too: ΔW has only in // group_size distinct columns"
            elif int(got) == min(r, inp // g):
                why = "a matrix with out_features rows has rank at most out_features"
            elif int(got) == min(inp // g, out):
                why = "ΔW = s·B·A has rank at most r"
            elif int(got) == inp // g:
                why = "ΔW = s·B·A has rank at most r, and at most out_features"
            else:
                why = "count the distinct columns of ΔW and the inner dimension of B·A"
            raise AssertionError(f"for {case} the answer is {expected}, you returned {got}: {why}")
    return "rank ≤ min(r, in_features // group_size, out_features); with one group per row that is 1"


# ---------------------------------------------------------------- exercise 4: a format for a bit budget

BIT_WIDTHS = (2, 3, 4)
GROUP_SIZES = (16, 32, 64, 128)
FLOAT16_BITS = 16          # the paper's merge.py stores each group's scale and (real-valued) zero in float16
# (weights, budget) the checker names: the shipped model at two budgets, then a layer with outliers. It also asks
# about one more, unannounced case drawn afresh on every check (a layer with outliers of its own, and a budget)
BUDGETS = (("shipped", 4.0), ("shipped", 4.7), ("outliers", 5.0))
EXTRA_BUDGET_RANGE = (3.5, 5.0)


def _shipped_weights() -> dict[str, torch.Tensor]:
    """Every linear layer's weight of the shipped model but the head (the layers the notebook quantizes)."""
    from lorakit.lora import find_targets
    from lorakit.models.loading import load_model

    model = load_model("tiny-lm", dtype=torch.float32, device="cpu")
    return {n: model.get_submodule(n).weight.detach().clone() for n in find_targets(model, "all-linear")}


def _outlier_weights(seed: int = 0, name: str = "outliers") -> dict[str, torch.Tensor]:
    """A 256 x 512 layer whose weights are small, but one in 128 (on average) is 100 times larger."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(256, 512, generator=gen) * 0.02
    w[torch.rand(w.shape, generator=gen) < 1 / 128] *= 100
    return {name: w}


def _extra_case(rng=None) -> tuple[dict[str, torch.Tensor], float]:
    """The unannounced case: a layer with outliers from a random seed, and a random budget in
    :data:`EXTRA_BUDGET_RANGE` (two decimals, never one of the named budgets), so a lookup table fails."""
    import random

    rng = rng or random.Random()
    named = {b for _, b in BUDGETS}
    budget = next(b for b in iter(lambda: round(rng.uniform(*EXTRA_BUDGET_RANGE), 2), None) if b not in named)
    return _outlier_weights(rng.randrange(1, 2**31), "layer"), budget


def _bits_with_zeros(bits: int, group_size: int, zero_bits: int = FLOAT16_BITS) -> float:
    """The checker's count: each weight's code, plus its share of its group's float16 scale and zero."""
    return bits + (FLOAT16_BITS + zero_bits) / group_size


def _measure_formats(weights: dict[str, torch.Tensor]) -> dict[tuple[int, int], tuple[float, float]]:
    """(bits, group_size) -> (stored bits per weight, squared round-trip error summed over every weight).

    Storage is counted from the tensors the quantizer returns (codes, scales, zeros), not from a formula.
    """
    from lorakit.qalora import dequantize_groupwise, quantize_groupwise

    out = {}
    for bits in BIT_WIDTHS:
        for g in GROUP_SIZES:
            stored = n_weights = 0
            error = 0.0
            for w in weights.values():
                q = quantize_groupwise(w, bits, g)
                stored += q.codes.numel() * bits + (q.scales.numel() + q.zeros.numel()) * FLOAT16_BITS
                n_weights += w.numel()
                error += (dequantize_groupwise(*q) - w.float()).pow(2).sum().item()
            out[(bits, g)] = (stored / n_weights, error)
    return out


@functools.cache
def _cases() -> tuple[dict, dict]:
    """The weights the checker asks about, and its own measurement of every format on them (computed once)."""
    sources = {"shipped": _shipped_weights(), "outliers": _outlier_weights()}
    return sources, {name: _measure_formats(w) for name, w in sources.items()}


def _best(table: dict, fits: Callable[[tuple[int, int]], bool]) -> tuple[int, int] | None:
    ok = [k for k in table if fits(k)]
    return min(ok, key=lambda k: table[k][1]) if ok else None


def _as_format(got) -> tuple[int, int]:
    if isinstance(got, (tuple, list)) and len(got) == 2:
        try:
            pair = tuple(int(v.item() if isinstance(v, torch.Tensor) else v) for v in got)
        except (TypeError, ValueError):
            pair = None
        if pair is not None and all(not isinstance(v, bool) and float(v) == p for v, p in zip(
                (v.item() if isinstance(v, torch.Tensor) else v for v in got), pair)):
            return pair
    raise AssertionError(f"pick_format must return a pair of ints (bits, group_size), e.g. (4, 64); got {got!r}")


def _found_nothing(pick_format: Callable, source: dict, helpers: dict, where: str, budget: float,
                   err: Exception) -> None:
    """The learner's function gave nothing (``None``) or failed at ``budget``: if it answers at a budget every
    format fits under any count, it found no format within ``budget``: name the slip (codes counted at 8 bits)."""
    try:
        with without(pick_format, helpers):
            roomy = _as_format(call(pick_format, {k: v.clone() for k, v in source.items()}, 64.0))
    except (NotDone, AssertionError, Shortcut):
        return
    what = "returned None" if isinstance(err, NotDone) else "raised " + str(err).split(" raised ", 1)[-1]
    raise AssertionError(f"on {where}, your function {what} at a budget of {budget} bits per weight, but answers "
                         f"{roomy} at 64: it found no format within {budget}, though several fit. Count each code "
                         "at b bits: uint8 is how the codes are kept in memory, not what is stored") from None


@exercise(4)
def check_pick_format(pick_format: Callable) -> str:
    """``pick_format(weights, budget) -> (bits, group_size)``, judged by the checker's own measurement."""
    from lorakit.qalora import groupwise
    from lorakit.studies import qalora_compare

    helpers = {"lorakit.qalora.groupwise_bits": groupwise.groupwise_bits,        # cell 5 imports it
               "lorakit.studies.qalora_compare.linear_storage_bits": qalora_compare.linear_storage_bits,
               "lorakit.exercises.nb06._measure_formats": _measure_formats}      # the checker's own answer
    sources, tables = _cases()
    extra_weights, extra_budget = _extra_case()
    cases = [(name, budget, sources[name], tables[name]) for name, budget in BUDGETS]
    cases.append(("extra", extra_budget, extra_weights, None))
    done = []
    for name, budget, source, table in cases:
        where = {"shipped": "the shipped model's weights",
                 "outliers": "a layer with outliers (one weight in 128 is 100 times larger)",
                 "extra": "another layer with outliers, drawn at random"}[name]
        weights = {k: v.clone() for k, v in source.items()}
        try:
            with without(pick_format, helpers):
                got = _as_format(call(pick_format, weights, budget))
        except (NotDone, AssertionError) as err:
            _found_nothing(pick_format, source, helpers, where, budget, err)
            raise
        if any(not torch.equal(weights[k], source[k]) for k in weights):
            raise AssertionError("pick_format changed the weights it was given; quantize copies, not the originals")
        table = table or _measure_formats(source)
        expected = _best(table, lambda k: table[k][0] <= budget + 1e-9)
        if got == expected:
            if name != "extra":
                done.append((name, budget, got))
            continue
        if got not in table:
            raise AssertionError(f"{got} is not one of the candidates: bits in {BIT_WIDTHS}, group sizes in "
                                 f"{GROUP_SIZES}")
        bpw, err = table[got]
        fits = lambda k: table[k][0] <= budget + 1e-9   # noqa: E731
        slips = {
            "each weight also carries its share of its group's scale and zero point (16 bits each)":
                _best(table, lambda k: k[0] <= budget),
            "a merged QA-LoRA model's zero points are real numbers, stored in float16 like the scales, not as "
            "b-bit integers": _best(table, lambda k: _bits_with_zeros(*k, zero_bits=k[0]) <= budget + 1e-9),
            "count 16 bits per scale and per zero: float32 is how they are kept in memory, not what is stored": _best(table, lambda k: k[0] + 2 * 32 / k[1] <= budget + 1e-9),
            "a format that stores exactly the budget's number of bits fits it (<=, not <)":
                _best(table, lambda k: table[k][0] < budget - 1e-9),
            "more bits is not always the better use of the budget: measure the error of every format that fits, "
            "and keep the smallest": max(filter(fits, table), key=lambda k: (k[0], -k[1])),
        }
        message = "; or ".join(m for m, wrong in slips.items() if wrong == got) or None
        if bpw > budget + 1e-9:
            raise AssertionError(f"on {where}, INT{got[0]} in groups of {got[1]} stores {bpw:.3f} bits per weight, "
                                 f"over the budget of {budget}" + (f": {message}" if message else ""))
        best_bpw, best_err = table[expected]
        raise AssertionError(f"on {where} with a budget of {budget} bits per weight: "
                             + (message + "; " if message else "")
                             + f"INT{got[0]} in groups of {got[1]} fits ({bpw:.3f} bits) with a squared error of "
                             f"{err:.4g}, but INT{expected[0]} in groups of {expected[1]} ({best_bpw:.3f} bits) "
                             f"has {best_err:.4g}")
    shown = "; ".join(f"{'shipped model' if n == 'shipped' else 'outlier layer'} within {b}: INT{f[0]}, groups of {f[1]}"
                      for n, b, f in done)
    return f"you picked what the checker measured: {shown}"


__all__ = ["BIT_WIDTHS", "BUDGETS", "GROUP_SIZES", "check_max_update_rank", "check_merged_zeros_mean_pool",
           "check_pick_format", "check_pool_groups"]
