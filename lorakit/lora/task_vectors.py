"""How alike two task vectors are: cosine similarity and sign-conflict rate of their updates.

A LoRA adapter's task vector is its update ΔW = s·B·A in every layer, all layers flattened into one
vector (Ilharco et al. 2023, arXiv 2212.04089). TIES-Merging (Yadav et al. 2023, arXiv 2306.01708)
argues that merges lose tasks where the updates' signs disagree; :func:`sign_conflict_rate` measures
that share, over every entry or over the entries that TIES' trim keeps (``density``). The trim here is
the paper's: the largest ``density`` share of the whole flattened task vector, all layers together.
PEFT's ``ties_svd`` and ``dare_ties_svd`` trim each layer's ΔW on its own (and ``ties`` each factor),
so per layer the share kept here differs from ``density``.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch


def flatten(deltas: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """One float64 vector of every layer's ΔW, layers in sorted name order."""
    if not isinstance(deltas, Mapping) or not deltas:
        raise TypeError("deltas must be a non-empty {layer: ΔW tensor} mapping")
    for k, v in deltas.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"deltas[{k!r}] must be a tensor, got {type(v).__name__}")
    return torch.cat([deltas[k].detach().reshape(-1).double() for k in sorted(deltas)])


def _pair(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(a, Mapping) and isinstance(b, Mapping) and set(a) != set(b):
        raise ValueError(f"the two task vectors cover different layers ({len(set(a) ^ set(b))} differ)")
    x, y = flatten(a), flatten(b)
    if x.shape != y.shape:
        raise ValueError(f"the two task vectors have different sizes: {x.numel()} and {y.numel()}")
    return x, y


def cosine_similarity(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """cos(ΔW_a, ΔW_b) over all layers flattened (``ValueError`` for a zero vector)."""
    x, y = _pair(a, b)
    nx, ny = x.norm(), y.norm()
    if nx == 0 or ny == 0:
        raise ValueError("a task vector is zero: its cosine is undefined")
    return (x @ y / (nx * ny)).item()


def _top(x: torch.Tensor, density: float) -> torch.Tensor:
    k = max(1, int(round(density * x.numel())))
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[x.abs().topk(k).indices] = True
    return mask


def sign_conflict_rate(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor],
                       density: float | None = None) -> float:
    """Share of entries where ΔW_a and ΔW_b have opposite signs.

    Counted over the entries where both are nonzero; with ``density`` (in (0, 1]) only over the
    entries that are in the largest ``density`` share of |ΔW_a| *and* of |ΔW_b|, each taken over the
    whole flattened vector (the TIES paper's trim; PEFT trims per layer). Two independent random
    vectors give about 0.5; the entries of a low-rank ΔW are not independent, so that is a reference
    point, not a null for LoRA updates.
    """
    if density is not None and (isinstance(density, bool) or not isinstance(density, (int, float))
                                or not 0 < density <= 1):
        raise ValueError(f"density must be None or a number in (0, 1], got {density!r}")
    x, y = _pair(a, b)
    both = (x != 0) & (y != 0)
    if density is not None:
        both &= _top(x, density) & _top(y, density)
    if not both.any():
        raise ValueError("no entry is nonzero (and kept) in both task vectors")
    return ((torch.sign(x) != torch.sign(y)) & both).sum().item() / both.sum().item()
