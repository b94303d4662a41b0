"""Confidence intervals by bootstrap over examples, and the verdict a notebook may print.

A score measured on 200 questions carries noise: another 200 would give another number. The
bootstrap (Efron 1979) estimates that noise from the sample itself: draw the examples again with
replacement many times, recompute the score each time, and read the interval off the spread. Two
systems scored on the *same* examples are compared with a paired bootstrap on the per-example
differences; a difference whose interval contains 0 is a tie, and the course says so.

    em = [1, 0, 1, 1, ...]                      # one 0/1 (or real) score per example
    ci = bootstrap_ci(em)                       # CI(mean=0.75, low=0.69, high=0.81, level=0.95)
    print(format_ci(ci, percent=True))          # 75.0% [69.0, 81.0]
    verdict(lora_em, qlora_em)                  # "tie" unless the paired interval excludes 0
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch


class CI(NamedTuple):
    mean: float
    low: float
    high: float
    level: float = 0.95


_DECIMALS = 12


def _as_tensor(values: Sequence[float] | torch.Tensor, name: str = "values") -> torch.Tensor:
    x = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if x.numel() == 0:
        raise ValueError(f"{name} must hold at least one per-example score")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite scores")
    return x


def _resample_means(x: torch.Tensor, n_boot: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, x.numel(), (n_boot, x.numel()), generator=gen)  # (n_boot, n)
    return x[idx].mean(dim=1)                                              # (n_boot,)


def _check(level: float, n_boot: int) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError(f"n_boot must be an int >= 100, got {n_boot!r}")


def bootstrap_ci(values: Sequence[float] | torch.Tensor, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> CI:
    """Percentile bootstrap interval for the mean of per-example ``values``.

    Args:
        values: one score per example (0/1 for exact match, a loss, ...).
        level: the interval's coverage (0.95: the 2.5th to the 97.5th percentile).
        n_boot: resamples; 2000 gives intervals stable to about a tenth of a point.
        seed: the resampling seed, so a notebook prints the same interval every run.
    """
    _check(level, n_boot)
    x = _as_tensor(values)
    means = _resample_means(x, n_boot, seed)
    tail = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    # Rounded to 12 decimals: float sums of scores such as 1/3 leave ~1e-18 where the exact value is 0,
    # which would otherwise decide whether an interval "contains 0" (a verdict) by rounding noise.
    return CI(*(round(v, _DECIMALS) for v in (x.mean().item(), low, high)), level)


def paired_difference_ci(a: Sequence[float] | torch.Tensor, b: Sequence[float] | torch.Tensor,
                         level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> CI:
    """Bootstrap interval of mean(a) - mean(b) for two systems scored on the same examples."""
    xa, xb = _as_tensor(a, "a"), _as_tensor(b, "b")
    if xa.numel() != xb.numel():
        raise ValueError(f"a paired comparison needs scores on the same examples: got {xa.numel()} and {xb.numel()}")
    return bootstrap_ci(xa - xb, level=level, n_boot=n_boot, seed=seed)


def verdict(a: Sequence[float] | torch.Tensor, b: Sequence[float] | torch.Tensor, names: tuple[str, str] = ("a", "b"),
            level: float = 0.95, seed: int = 0) -> str:
    """``"tie"`` when the paired interval of mean(a) - mean(b) contains 0, else ``"<winner> higher"``."""
    diff = paired_difference_ci(a, b, level=level, seed=seed)
    if diff.low <= 0 <= diff.high:
        return "tie"
    return f"{names[0] if diff.mean > 0 else names[1]} higher"


def format_ci(ci: CI, percent: bool = False, digits: int = 1) -> str:
    """``"75.0% [69.0, 81.0]"`` (``percent=True``) or ``"0.750 [0.690, 0.810]"``."""
    if percent:
        return f"{100 * ci.mean:.{digits}f}% [{100 * ci.low:.{digits}f}, {100 * ci.high:.{digits}f}]"
    d = digits + 2
    return f"{ci.mean:.{d}f} [{ci.low:.{d}f}, {ci.high:.{d}f}]"


__all__ = ["CI", "bootstrap_ci", "format_ci", "paired_difference_ci", "verdict"]
