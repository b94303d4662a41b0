"""Combining LoRA adapters into one, from scratch: what PEFT's ``add_weighted_adapter`` computes.

Given n adapters on the same layer, each a pair A_i (r_i, in), B_i (out, r_i) with its own
``scaling`` s_i (so ΔW_i = s_i·B_i·A_i), and one weight w_i per adapter, each method returns a new
pair (A, B) whose update is ΔW = B·A. The new adapter's ``scaling`` is 1: PEFT gives it
``lora_alpha = r`` (the scalings of the inputs are folded into A or B).

=========================  =================================================================
``cat``                    stack the factors: A = [w_1·s_1·A_1; …], B = [B_1 … B_n], rank Σ r_i;
                           ΔW = Σ w_i·ΔW_i exactly
``linear``                 add the factors: A = Σ ±√|w_i·s_i|·A_i, B = Σ √|w_i·s_i|·B_i, rank r;
                           ΔW = (Σ …B_i)(Σ …A_i) has cross terms B_i·A_j: not the sum of the ΔW_i
``svd``                    the exact sum Σ w_i·ΔW_i, cut back to ``svd_rank`` by a truncated SVD
``ties``                   TIES-Merging (Yadav et al. 2023) on A and on B separately: keep the
                           top ``density`` fraction by magnitude, elect a sign per entry, average
                           the entries that agree with it
``ties_svd``               TIES on the ΔW_i themselves, then a truncated SVD
``magnitude_prune``        keep the top ``density`` of A's and B's entries, then ``linear``
``magnitude_prune_svd``    keep the top ``density`` of each ΔW_i, sum, truncated SVD
=========================  =================================================================

Each function matches PEFT 0.21's ``LoraModel.add_weighted_adapter`` for a ``nn.Linear`` layer
(``peft/tuners/lora/model.py`` and ``peft/utils/merge_utils.py``): same order of operations, same
pruning (``torch.topk``, ``k = int(density · numel)``), same sign election (``"total"``: the sign of
the sum; ``"frequency"``: the sign of the count; a tie counts as +), same SVD truncation and clamp.
Left out: the DARE variants (``dare_linear``, ``dare_ties`` and their ``_svd`` forms), which drop
entries at random (Yu et al. 2023) and so cannot be compared with PEFT entry by entry (their one
step, ``drop_and_rescale``, is here and equals PEFT's under the same seed), and the conv/embedding
layers PEFT also handles.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

COMBINATION_TYPES = ("linear", "cat", "svd", "ties", "ties_svd", "magnitude_prune", "magnitude_prune_svd")
SignMethod = Literal["total", "frequency"]


def delta_weight(A: torch.Tensor, B: torch.Tensor, scaling: float = 1.0) -> torch.Tensor:
    """ΔW = scaling·B·A, shape (out, in), computed in PEFT's order ((B @ A) * scaling)."""
    return (B @ A) * scaling  # (out, r) @ (r, in)


# ------------------------------------------------------------------ building blocks (any tensors)


def _check_inputs(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> None:
    if len(tensors) == 0:
        raise ValueError("need at least one adapter to combine")
    if len(tensors) != len(weights):
        raise ValueError(f"one weight per adapter: got {len(tensors)} adapters and {len(weights)} weights")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"these tensors must have the same shape to be combined, got {sorted(shapes)}")


def _check_density(density: float | None) -> float:
    if density is None or isinstance(density, bool) or not 0 <= density <= 1:
        raise ValueError(f"density must be a number in [0, 1] (the fraction of entries kept), got {density!r}")
    return float(density)


def weighted_sum(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Σ w_i·t_i (task arithmetic, Ilharco et al. 2023), summed in adapter order."""
    _check_inputs(tensors, weights)
    stacked = torch.stack(list(tensors))                                        # (n, ...)
    w = torch.as_tensor(weights, dtype=stacked.dtype).view(-1, *[1] * (stacked.dim() - 1))
    return (stacked * w).sum(dim=0)


def trim(tensor: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the ``int(density · numel)`` entries largest in magnitude, zero the rest.

    ``density`` 1 (or more) keeps everything, 0 keeps nothing. Example: ``trim([0.1, -3, 2, 0.5], 0.5)``
    → ``[0, -3, 2, 0]``.
    """
    density = _check_density(density)
    if density >= 1:
        return tensor
    k = int(density * tensor.numel())
    keep = torch.zeros(tensor.numel(), dtype=tensor.dtype, device=tensor.device)
    keep[torch.topk(tensor.abs().reshape(-1), k=k, largest=True).indices] = 1
    return tensor * keep.view_as(tensor)


def elect_sign(stacked: torch.Tensor, method: SignMethod = "total") -> torch.Tensor:
    """For each entry, whether each task agrees with the elected sign: (n, ...) bool.

    ``"total"`` elects the sign of Σ_i t_i (the larger mass wins, TIES' rule); ``"frequency"`` the
    sign most tasks have. A zero sum elects +.
    """
    if method == "total":
        mass = stacked.sum(dim=0)
    elif method == "frequency":
        mass = stacked.sign().sum(dim=0)
    else:
        raise ValueError(f"majority_sign_method must be 'total' or 'frequency', got {method!r}")
    elected = torch.where(mass >= 0, 1, -1)
    return stacked.sign() == elected


def ties_merge(tensors: Sequence[torch.Tensor], weights: Sequence[float], density: float,
               majority_sign_method: SignMethod = "total") -> torch.Tensor:
    """TIES-Merging (Yadav et al. 2023, §3): trim, elect sign, disjoint mean.

    1. trim each t_i to its top ``density`` fraction by magnitude;
    2. elect a sign per entry from the trimmed, *unweighted* tensors;
    3. average the weighted entries w_i·t_i whose sign agrees with it, dividing by how many agree
       (at least 1); entries no task agrees on become 0.
    """
    _check_inputs(tensors, weights)
    trimmed = torch.stack([trim(t, density) for t in tensors])                  # (n, ...)
    agrees = elect_sign(trimmed, majority_sign_method)                          # (n, ...) bool
    w = torch.as_tensor(weights, dtype=trimmed.dtype).view(-1, *[1] * (trimmed.dim() - 1))
    kept = (trimmed * w * agrees).sum(dim=0)
    return kept / torch.clamp(agrees.sum(dim=0), min=1.0)


def drop_and_rescale(tensor: torch.Tensor, density: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """DARE's step (Yu et al. 2023, arXiv 2311.03099): drop each entry with probability p = 1 − density,
    divide the survivors by 1 − p, so every entry keeps its expected value.

    Each entry survives a Bernoulli(``density``) draw, as in PEFT's ``random_pruning(..., rescale=True)``
    (equal to it under the same global seed when ``generator`` is None). Example: with density 0.5,
    ``[1, -2, 3, 4]`` may become ``[2, 0, 0, 8]``. ``density`` must be in (0, 1]; 1 returns the input.
    """
    density = _check_density(density)
    if density == 0:
        raise ValueError("density 0 would drop every entry and divide by 0; use a density in (0, 1]")
    if density == 1:
        return tensor
    mask = torch.bernoulli(torch.full_like(tensor, density), generator=generator)
    return tensor * mask / density


def magnitude_prune_merge(tensors: Sequence[torch.Tensor], weights: Sequence[float], density: float) -> torch.Tensor:
    """Σ w_i·trim(t_i, density): task arithmetic after magnitude pruning."""
    return weighted_sum([trim(t, density) for t in tensors], weights)


# ------------------------------------------------------------------ combinations of LoRA factors


def _check_factors(As: Sequence[torch.Tensor], Bs: Sequence[torch.Tensor], scalings: Sequence[float],
                   weights: Sequence[float]) -> None:
    if not (len(As) == len(Bs) == len(scalings) == len(weights)) or not As:
        raise ValueError(f"need one A, B, scaling and weight per adapter, got {len(As)}, {len(Bs)}, "
                         f"{len(scalings)} and {len(weights)}")
    for A, B in zip(As, Bs):
        if A.dim() != 2 or B.dim() != 2 or B.shape[1] != A.shape[0]:
            raise ValueError(f"expected A (r, in) and B (out, r) with the same r, got A {tuple(A.shape)}, "
                             f"B {tuple(B.shape)}")


def _split_weights(scalings: Sequence[float], weights: Sequence[float]) -> tuple[list[float], list[float]]:
    """√|w·s| for B and the same with w·s's sign for A, so B_i·A_i carries w_i·s_i exactly once."""
    ws = [w * s for w, s in zip(weights, scalings)]
    return [math.sqrt(abs(x)) * (1 if x >= 0 else -1) for x in ws], [math.sqrt(abs(x)) for x in ws]


def combine_cat(As, Bs, scalings, weights) -> tuple[torch.Tensor, torch.Tensor]:
    """A = [w_1·s_1·A_1; …; w_n·s_n·A_n] (Σr_i, in), B = [B_1 … B_n] (out, Σr_i): ΔW = Σ w_i·ΔW_i."""
    _check_factors(As, Bs, scalings, weights)
    A = torch.cat([a * w * s for a, w, s in zip(As, weights, scalings)], dim=0)
    return A, torch.cat(list(Bs), dim=1)


def combine_linear(As, Bs, scalings, weights, prune_density: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A = Σ sign·√|w_i·s_i|·A_i, B = Σ √|w_i·s_i|·B_i (rank r, all r_i equal).

    The product B·A = Σ_i w_i·ΔW_i + Σ_{i≠j} (cross terms B_i·A_j): exact only for one adapter.
    ``prune_density`` first trims each A_i and B_i (``magnitude_prune``).
    """
    _check_factors(As, Bs, scalings, weights)
    if len({a.shape[0] for a in As}) != 1:
        raise ValueError(f"'linear' needs adapters of equal rank, got ranks {[a.shape[0] for a in As]}")
    wa, wb = _split_weights(scalings, weights)
    if prune_density is None:
        return weighted_sum(As, wa), weighted_sum(Bs, wb)
    return magnitude_prune_merge(As, wa, prune_density), magnitude_prune_merge(Bs, wb, prune_density)


def combine_ties(As, Bs, scalings, weights, density: float,
                 majority_sign_method: SignMethod = "total") -> tuple[torch.Tensor, torch.Tensor]:
    """TIES applied to the A's and, separately, to the B's (PEFT's ``ties``), weights split as in linear."""
    _check_factors(As, Bs, scalings, weights)
    wa, wb = _split_weights(scalings, weights)
    return (ties_merge(As, wa, density, majority_sign_method),
            ties_merge(Bs, wb, density, majority_sign_method))


def truncated_svd(delta: torch.Tensor, rank: int, clamp: float | None = None,
                  full_matrices: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) = (Vh[:rank], U[:, :rank]·diag(S[:rank])), the best rank-``rank`` factors of ``delta``.

    ``clamp`` (a quantile, e.g. 0.99) clips every entry of U·S and Vh to ±quantile(entries, clamp),
    as PEFT's ``svd_clamp``.
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    U, S, Vh = torch.linalg.svd(delta, full_matrices=full_matrices)
    B = U[:, :rank] @ torch.diag(S[:rank])                                     # (out, rank)
    A = Vh[:rank, :]                                                            # (rank, in)
    if clamp is not None:
        high = torch.quantile(torch.cat([B.flatten(), A.flatten()]), clamp)
        B, A = B.clamp(-high, high), A.clamp(-high, high)
    return A, B


def combine_deltas(deltas: Sequence[torch.Tensor], weights: Sequence[float], method: str = "svd",
                   density: float | None = None, majority_sign_method: SignMethod = "total") -> torch.Tensor:
    """The combined ΔW that the ``*_svd`` types factor: ``svd`` Σ w_i·ΔW_i, ``ties_svd`` TIES on the
    ΔW_i, ``magnitude_prune_svd`` Σ w_i·trim(ΔW_i)."""
    if method == "svd":
        return weighted_sum(deltas, weights)
    if method == "ties_svd":
        return ties_merge(deltas, weights, density, majority_sign_method)
    if method == "magnitude_prune_svd":
        return magnitude_prune_merge(deltas, weights, density)
    raise ValueError(f"method must be 'svd', 'ties_svd' or 'magnitude_prune_svd', got {method!r}")


def combine(As: Sequence[torch.Tensor], Bs: Sequence[torch.Tensor], scalings: Sequence[float],
            weights: Sequence[float], combination_type: str = "svd", density: float | None = None,
            svd_rank: int | None = None, svd_clamp: float | None = None,
            majority_sign_method: SignMethod = "total") -> tuple[torch.Tensor, torch.Tensor]:
    """One layer of PEFT's ``add_weighted_adapter``: the new adapter's (A, B), its scaling being 1.

    Args:
        As, Bs: each adapter's ``lora_A.weight`` (r_i, in) and ``lora_B.weight`` (out, r_i).
        scalings: each adapter's ``scaling`` (lora_alpha / r).
        weights: one weight per adapter (negative subtracts a task).
        combination_type: one of :data:`COMBINATION_TYPES`.
        density: fraction of entries kept, for the ties and magnitude_prune types.
        svd_rank: rank of the ``*_svd`` results (default: the largest r_i, as PEFT).
        svd_clamp: quantile clamp of the SVD factors (default: none).
        majority_sign_method: ``"total"`` or ``"frequency"`` (ties types).

    With one adapter PEFT always uses ``linear``; so does this function.
    """
    _check_factors(As, Bs, scalings, weights)
    if combination_type not in COMBINATION_TYPES:
        raise ValueError(f"combination_type must be one of {COMBINATION_TYPES}, got {combination_type!r}")
    if len(As) == 1:
        combination_type = "linear"
    if combination_type == "cat":
        return combine_cat(As, Bs, scalings, weights)
    if combination_type == "linear":
        return combine_linear(As, Bs, scalings, weights)
    if combination_type == "magnitude_prune":
        return combine_linear(As, Bs, scalings, weights, prune_density=_check_density(density))
    if combination_type == "ties":
        return combine_ties(As, Bs, scalings, weights, _check_density(density), majority_sign_method)
    if combination_type != "svd":
        _check_density(density)
    deltas = [delta_weight(a, b, s) for a, b, s in zip(As, Bs, scalings)]
    delta = combine_deltas(deltas, weights, combination_type, density, majority_sign_method)
    rank = svd_rank or max(a.shape[0] for a in As)
    return truncated_svd(delta, rank, clamp=svd_clamp)


__all__ = [
    "COMBINATION_TYPES", "combine", "combine_cat", "combine_deltas", "combine_linear", "combine_ties",
    "delta_weight", "drop_and_rescale", "elect_sign", "magnitude_prune_merge", "ties_merge", "trim", "truncated_svd",
    "weighted_sum",
]
