"""Confidence intervals by bootstrap over examples, and the one rule the course compares systems by.

A score measured on 200 questions carries noise: another 200 would give another number. The
bootstrap (Efron 1979) estimates that noise from the sample itself: draw the examples again with
replacement many times, recompute the score each time, and read the interval off the spread (the
2.5th and 97.5th percentiles of the resampled means give a 95% interval).

    em = [1, 0, 1, 1, ...]                      # one 0/1 (or real) score per example
    ci = bootstrap_ci(em)                       # CI(mean=0.75, low=0.69, high=0.81, level=0.95)
    print(format_ci(ci, percent=True))          # 75.0% [69.0, 81.0]

**The course's rule for comparing two systems** (:func:`compare`, printed by :func:`comparison_table`).
Both systems are scored on the *same* examples, so the comparison is *paired*: the bootstrap
resamples the per-example differences a - b, which cancels the noise of which questions happen to be
easy. With several training seeds (a 2-D array, seeds x examples) each example's score is first
averaged over the seeds; the bootstrap then resamples examples only. **The interval covers which
examples were asked, not which seeds were drawn**: a seed that shifts a whole run up or down is not
in it. Report the per-seed means beside it (:func:`comparison_table` prints them).

An **equivalence margin** is stated up front, in the scores' units (0.03 = 3 points of exact match):
the largest difference that would not change what you do. Then, in order:

1. ``floor`` given and both means below it: **both fail** (a comparison between two failures says
   little, so that is said first);
2. the 95% interval of mean(a - b) lies entirely inside (-margin, +margin) **and** 3/n < margin
   (n examples can resolve the margin): **equivalent (within ±margin)**; a difference smaller than
   the margin was declared not to matter before looking. The interval inside ±margin is the
   two-one-sided-tests (TOST) check at 2.5% per side, stricter than the common 90% interval (5% per
   side; ``level=0.9`` gives that). The 3/n condition is the rule of three: with 0 disagreements
   among n examples the 95% upper bound on the disagreement rate is about 3/n, and for scores in
   [0, 1] |mean(a - b)| is at most the disagreement rate. Without it, two systems that agree on all
   of 10 examples (interval [0, 0]) would be "equivalent within 3 points"; with it they need more
   than 100 examples;
3. the interval lies above 0 (its low end > 0): **a higher**; below 0 (high end < 0): **b higher**;
4. otherwise **inconclusive**: the interval holds 0, and it is wider than the margin or n is too
   small for the margin. Not finding a difference is not evidence of no difference; more examples would be
   needed to say.

    c = compare(lora_em, qlora_em, margin=0.03, names=("LoRA", "QLoRA"))
    c.verdict                                   # e.g. "equivalent (within ±0.03)"
    print(comparison_table([c]))                # one row per comparison and the rule under the table

An older rule of this course called an interval that contains 0 "a tie": that is non-significance,
not equivalence, and it is gone; :func:`compare` is the one rule.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from numbers import Real
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


def format_ci(ci: CI, percent: bool = False, digits: int = 1) -> str:
    """``"75.0% [69.0, 81.0]"`` (``percent=True``) or ``"0.750 [0.690, 0.810]"``."""
    if percent:
        return f"{100 * ci.mean:.{digits}f}% [{100 * ci.low:.{digits}f}, {100 * ci.high:.{digits}f}]"
    d = digits + 2
    return f"{ci.mean:.{d}f} [{ci.low:.{d}f}, {ci.high:.{d}f}]"



class Comparison(NamedTuple):
    """The result of :func:`compare`: fractions (or the scores' own units) throughout."""
    names: tuple[str, str]
    mean_a: float
    mean_b: float
    diff: CI                      # paired bootstrap interval of mean(a - b)
    margin: float                 # the equivalence margin stated up front
    n_examples: int
    n_seeds: tuple[int, int]      # seeds averaged per example, for a and for b (1 for a 1-D array)
    verdict: str                  # "both fail", "equivalent (within ±m)", "<a> higher", "<b> higher", "inconclusive"
    floor: float | None = None
    seed_means: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())  # each seed's mean, for a and for b
    bounded: bool = True          # scores in [0, 1]: "equivalent" also needs 3/n < margin

    def describe(self, percent: bool = True, unit: str = "") -> str:
        """The verdict with the margin in points (``percent=True``: 0.03 -> "±3 points"), or in the
        scores' own units, named by ``unit`` (``percent=False, unit="nats"``: "±0.01 nats"), so that
        a margin printed beside a percentage is not read as one."""
        if not isinstance(unit, str):
            raise TypeError(f"unit must be a string such as 'nats', got {type(unit).__name__}")
        if percent and unit:
            raise ValueError(f"unit names the scores' own units (percent=False); with percent=True the margin is in points, got unit={unit!r}")
        if self.verdict.startswith("equivalent"):
            m = f"±{100 * self.margin:g} points" if percent else f"±{self.margin:g}" + (f" {unit}" if unit else "")
            return f"equivalent (within {m})"
        return self.verdict


def _per_example(values, name: str) -> torch.Tensor:
    """Scores as (seeds, examples): a 1-D input is one seed."""
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be per-example scores (a list, array or tensor of numbers), got {type(values).__name__}")
    try:
        x = torch.as_tensor(values, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be numbers, one per example (or seeds x examples): {err}") from None
    if x.dim() == 1:
        x = x.unsqueeze(0)                                         # (1, n): one seed
    if x.dim() != 2:
        raise ValueError(f"{name} must be 1-D (examples) or 2-D (seeds x examples), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must hold at least one per-example score, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite scores")
    return x                                                       # (seeds, n)


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def compare(a, b, *, margin: float, names: tuple[str, str] = ("a", "b"), floor: float | None = None,
            bounded: bool = True, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Comparison:
    """Compare two systems scored on the same examples by the course's one rule (module docstring).

    Args:
        a, b: per-example scores on the SAME examples in the same order: 1-D (examples) or 2-D
            (seeds x examples; each example's score is averaged over the seeds first, then the
            examples are resampled: the interval does not cover seed-to-seed spread, so each seed's
            mean is returned in ``seed_means`` to report beside it). a and b may have different
            numbers of seeds (e.g. a deterministic base model against three seeds).
        margin: the equivalence margin, > 0, in the scores' units (0.03 = 3 points), stated before
            looking at the result. "equivalent" also needs 3/n < margin (module docstring).
        names: what to call a and b in the verdict ("LoRA higher").
        floor: optional; when both means are below it the verdict is "both fail".
        bounded: True (default) for scores in [0, 1] (exact match, accuracy): "equivalent" also needs
            3/n < margin, the rule of three. False for unbounded scores (a loss in nats, milliseconds),
            where the rule of three does not apply: the interval inside ±margin decides alone.
        level, n_boot, seed: as for :func:`bootstrap_ci`.

    >>> a = [1] * 300 + [0] * 700                  # 1000 examples, 30% right
    >>> b = [0] * 12 + a[12:]                      # b misses 12 that a gets
    >>> c = compare(a, b, margin=0.03)
    >>> round(c.diff.mean, 3), c.verdict          # +1.2 points, interval about [+0.6, +1.9]: inside ±3
    (0.012, 'equivalent (within ±0.03)')
    >>> compare(a[:10], a[:10], margin=0.03).verdict   # interval [0, 0], but 3/10 is not below 0.03
    'inconclusive'
    """
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise TypeError(f"names must be two strings, e.g. ('LoRA', 'QLoRA'), got {names!r}")
    margin = _real(margin, "margin")
    if margin <= 0:
        raise ValueError(f"margin must be > 0 in the scores' units (e.g. 0.03 = 3 points), got {margin:g}")
    floor = None if floor is None else _real(floor, "floor")
    if not isinstance(bounded, bool):
        raise TypeError(f"bounded must be True (scores in [0, 1]) or False (a loss, a time), got {bounded!r}")
    _check(level, n_boot)
    sa, sb = _per_example(a, "a"), _per_example(b, "b")           # (seeds, n) each
    n = sa.shape[1]
    if sb.shape[1] != n:
        raise ValueError(f"a paired comparison needs scores on the same examples: a has {n}, "
                         f"b has {sb.shape[1]} (2-D input: seeds x examples)")
    xa, xb = sa.mean(dim=0), sb.mean(dim=0)                        # (n,): each example averaged over seeds
    diff = bootstrap_ci(xa - xb, level=level, n_boot=n_boot, seed=seed)
    mean_a, mean_b = round(xa.mean().item(), _DECIMALS), round(xb.mean().item(), _DECIMALS)
    if floor is not None and mean_a < floor and mean_b < floor:
        outcome = "both fail"
    elif -margin < diff.low and diff.high < margin and (3 / n < margin or not bounded):
        outcome = f"equivalent (within ±{margin:g})"
    elif diff.low > 0:
        outcome = f"{names[0]} higher"
    elif diff.high < 0:
        outcome = f"{names[1]} higher"
    else:
        outcome = "inconclusive"
    seed_means = tuple(tuple(round(v, _DECIMALS) for v in s.mean(dim=1).tolist()) for s in (sa, sb))
    return Comparison(tuple(names), mean_a, mean_b, diff, margin, n, (sa.shape[0], sb.shape[0]), outcome, floor,
                      seed_means, bounded)


def _fmt(x: float, percent: bool, sign: bool = False, digits: int | None = None) -> str:
    s = "+" if sign else ""
    if digits is None:
        digits = 1 if percent else 3
    return f"{100 * x:{s}.{digits}f}" if percent else f"{x:{s}.{digits}f}"


PER_SEED = ("lines", "column", "off")


def comparison_table(comparisons: Sequence[Comparison], percent: bool = True, *, per_seed: str = "lines",
                     digits: int | None = None) -> str:
    """One compact table for many :func:`compare` results, and the rule in one line under it.

    Columns: comparison, mean of a, mean of b, difference a - b [interval], verdict. ``percent=True``
    prints fractions as percentages and differences in points; ``percent=False`` prints the scores' own
    units (a loss in nats). ``digits``: decimals (default 1 for percent, 3 otherwise).

    The interval does not cover the spread between seeds, so rows with several seeds show each seed's
    mean: ``per_seed="lines"`` (default) in a line under the table per row, ``"column"`` in a last
    column ("a1/a2/a3 | b1/b2/b3"), ``"off"`` not at all (when the cell printed them already).
    """
    if isinstance(comparisons, Comparison):
        comparisons = [comparisons]
    if isinstance(comparisons, (str, bytes)) or not isinstance(comparisons, Sequence):
        raise TypeError(f"comparison_table takes a list of Comparison results of compare(), got {type(comparisons).__name__}")
    comparisons = list(comparisons)
    if not comparisons:
        raise ValueError("comparison_table needs at least one Comparison (from lorakit.stats.compare)")
    for c in comparisons:
        if not isinstance(c, Comparison):
            raise TypeError(f"comparison_table takes Comparison results of compare(), got {type(c).__name__}")
    if per_seed not in PER_SEED:
        raise ValueError(f"per_seed must be one of {PER_SEED}, got {per_seed!r}")
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 6):
        raise ValueError(f"digits must be an integer from 0 to 6, got {digits!r}")
    fmt = lambda x, sign=False: _fmt(x, percent, sign, digits)
    unit = "%" if percent else ""
    sizes = Counter((c.n_examples, c.n_seeds) for c in comparisons)
    usual = max(sizes, key=sizes.get)                  # the most common size goes in the rule line
    seeded = [max(c.n_seeds) > 1 for c in comparisons]
    column = per_seed == "column" and any(seeded)
    rows = []
    for c, many in zip(comparisons, seeded):
        label = f"{c.names[0]} vs {c.names[1]}"
        if (c.n_examples, c.n_seeds) != usual:
            label += f" (n={c.n_examples}" + (f", seeds {c.n_seeds[0]}/{c.n_seeds[1]})" if max(c.n_seeds) > 1 else ")")
        diff = f"{fmt(c.diff.mean, True)} [{fmt(c.diff.low, True)}, {fmt(c.diff.high, True)}]"
        row = [label, fmt(c.mean_a) + unit, fmt(c.mean_b) + unit, diff, c.describe(percent)]
        if column:
            row.append(" | ".join("/".join(fmt(m) for m in means) for means in c.seed_means) if many else "")
        rows.append(tuple(row))
    level = comparisons[0].diff.level
    header = ["comparison", "a", "b", f"a - b [{100 * level:g}% CI]" + (" (points)" if percent else ""), "verdict"]
    if column:
        header.append("per-seed means (a | b)" + (", %" if percent else ""))
    header = tuple(header)
    ncol = len(header)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(ncol)]
    left = (0, 4, 5)
    line = lambda r: "  ".join(f"{v:<{w}}" if i in left else f"{v:>{w}}" for i, (v, w) in enumerate(zip(r, widths))).rstrip()
    out = [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    if per_seed == "lines":
        for c, r, many in zip(comparisons, rows, seeded):
            if many:
                means = ", ".join(f"{name} " + " / ".join(fmt(m) for m in ms) + unit for name, ms in zip(c.names, c.seed_means))
                out.append(f"Per-seed means, {r[0]}: {means}.")
    margins = sorted({c.margin for c in comparisons})
    m = " / ".join((f"±{100 * x:g} points" if percent else f"±{x:g}") for x in margins)
    floors = sorted({c.floor for c in comparisons if c.floor is not None})
    n, (sa, sb) = usual
    over = (f"{n} paired examples" + (f", each example averaged over its seeds ({sa} for a, {sb} for b)" if max(sa, sb) > 1 else "")
            + (" (n where a row says)" if len(sizes) > 1 else ""))
    bounded = {c.bounded for c in comparisons}
    three = ("with 3/n below it" if bounded == {True} else
             "with no 3/n condition (unbounded scores)" if bounded == {False} else "with 3/n below it for [0, 1] scores")
    rule = (f"Rule (lorakit.stats.compare): paired bootstrap {100 * level:g}% interval of a - b over {over}; "
            + "it covers which examples were asked, not which seeds were drawn; "
            + (f"both below the floor {' / '.join(fmt(f) + unit for f in floors)}: both fail; " if floors else "")
            + f"inside the margin {m}, {three}: equivalent; above 0: a higher; below 0: b higher; "
            + "else inconclusive.")
    return "\n".join(out + [rule])


__all__ = ["CI", "Comparison", "bootstrap_ci", "compare", "comparison_table", "format_ci", "paired_difference_ci"]
