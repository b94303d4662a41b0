"""How low-rank is a weight update? Singular values and the best rank-r approximation.

By the Eckart–Young theorem the best rank-r approximation of a matrix M in Frobenius norm keeps its
r largest singular values, and its error is sqrt(σ²_{r+1} + … + σ²_n). If the update a full
fine-tune makes, ΔW = W_tuned − W_0, is well approximated at small r, LoRA's ΔW = B·A with the
same r can express it (Hu et al. 2021, §7 studies exactly this).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch


def _as_matrix(m: torch.Tensor) -> torch.Tensor:
    if not isinstance(m, torch.Tensor) or m.ndim != 2:
        raise ValueError(f"expected a 2-D tensor (out, in), got {getattr(m, 'shape', type(m).__name__)}")
    return m.detach().float()


def low_rank_approximation(m: torch.Tensor, r: int) -> torch.Tensor:
    """The best rank-``r`` approximation of ``m`` (out, in): U[:, :r] · diag(S[:r]) · Vh[:r]."""
    m = _as_matrix(m)
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= min(m.shape):
        raise ValueError(f"r must be an int in [1, {min(m.shape)}] for a {tuple(m.shape)} matrix, got {r!r}")
    u, s, vh = torch.linalg.svd(m, full_matrices=False)  # (out, k), (k,), (k, in)
    return (u[:, :r] * s[:r]) @ vh[:r]


def truncation_errors(m: torch.Tensor, ranks: Iterable[int]) -> list[float]:
    """Relative Frobenius error ‖m − m_r‖ / ‖m‖ of the best rank-r approximation, for each r.

    Computed from the singular values alone (Eckart–Young), so it costs one SVD. Ranks above
    min(out, in) are exact (error 0).
    """
    s2 = torch.linalg.svdvals(_as_matrix(m)).double() ** 2  # (k,), descending
    total = s2.sum()
    if total == 0:
        raise ValueError("the matrix is all zeros: there is no update to approximate")
    tail = s2.flip(0).cumsum(0).flip(0)  # tail[i] = σ²_i + … + σ²_{k-1}
    errors = []
    for r in ranks:
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"ranks must be positive ints, got {r!r}")
        errors.append(float((tail[r] / total).sqrt()) if r < len(s2) else 0.0)
    return errors
