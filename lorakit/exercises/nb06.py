"""Checkers for notebook 06 (QA-LoRA against QLoRA).

Exercise 1, ``pool_groups(x, group_size)``: the paper's group pooling, (..., in) -> (..., in // group_size).
Exercise 2, ``merged_zeros_mean_pool(zeros, scales, A, B, scaling, group_size)``: the zero points after
merging an adapter trained with *mean* pooling (the paper's code, ``nn.AvgPool1d``), derived by hand.
Exercise 3, ``max_update_rank(out_features, in_features, r, group_size)``: the largest rank a QA-LoRA
update ΔW can have.

Each checker tries the learner's function on a few inputs, compares with :mod:`lorakit.qalora`, and
when the answer is wrong recognises the usual slips (mean instead of sum, strided groups, the sign of
the shift, the factor of the group size, a forgotten bound) and names them.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from lorakit.exercises import call, exercise, named_slip, without
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


__all__ = ["check_max_update_rank", "check_merged_zeros_mean_pool", "check_pool_groups"]
