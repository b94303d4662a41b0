"""Bootstrap intervals: they cover the mean and shrink with more examples; compare()'s rule (the course's
only one), its order, its strict boundaries, its 3/n condition, and seeds averaged per example."""
import pytest
import torch

import lorakit.stats
from lorakit.stats import Comparison, bootstrap_ci, compare, comparison_table, format_ci, paired_difference_ci


def test_interval_contains_the_mean_and_shrinks_with_n():
    small = bootstrap_ci([1, 0] * 25)
    large = bootstrap_ci([1, 0] * 500)
    assert small.low < 0.5 < small.high and large.low < 0.5 < large.high
    assert (large.high - large.low) < (small.high - small.low) / 3  # ~ 1/sqrt(20)


def test_interval_matches_the_normal_approximation():
    ci = bootstrap_ci([1] * 150 + [0] * 50, n_boot=4000)
    half = 1.96 * (0.75 * 0.25 / 200) ** 0.5
    assert abs((ci.high - ci.low) / 2 - half) < 0.01


def test_constant_scores_give_a_point():
    ci = bootstrap_ci([1.0] * 30)
    assert ci.low == ci.high == ci.mean == 1.0


def test_paired_difference_and_the_one_rule():
    a = torch.tensor([1.0] * 90 + [0.0] * 10)
    b = torch.tensor([1.0] * 40 + [0.0] * 60)
    assert paired_difference_ci(a, b).low > 0.3
    assert compare(a, b, margin=0.03, names=("lora", "base")).verdict == "lora higher"
    assert compare(b, a, margin=0.03, names=("base", "lora")).verdict == "lora higher"
    c = a.clone()
    c[0] = 0.0  # one example apart: the interval holds 0 and is wider than 3 points at n = 100
    assert compare(a, c, margin=0.03).verdict == "inconclusive"
    # the older rule ("tie" when the interval holds 0) is gone: compare is the only verdict helper
    assert not hasattr(lorakit.stats, "verdict") and "verdict" not in lorakit.stats.__all__


def test_format():
    assert format_ci(bootstrap_ci([1.0] * 4), percent=True) == "100.0% [100.0, 100.0]"


@pytest.mark.parametrize("kwargs, match", [
    ({"values": []}, "at least one"),
    ({"values": [1.0, float("nan")]}, "NaN"),
    ({"values": [1.0], "level": 1.5}, "level"),
    ({"values": [1.0], "n_boot": 10}, "n_boot"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(**kwargs)


def test_unpaired_lengths_refused():
    with pytest.raises(ValueError, match="same examples"):
        paired_difference_ci([1, 0], [1, 0, 1])


def test_float_noise_does_not_decide_a_verdict():
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point and 0 exactly: the same score written two ways is no
    # difference ("b higher" would be rounding noise deciding a verdict)
    a, b = [0.1 + 0.2] * 5, [0.3] * 5
    assert compare(a, b, margin=0.03).verdict == "inconclusive"
    ci = paired_difference_ci(a, b)
    assert ci.low == ci.high == ci.mean == 0


# ---------------------------------------------------------------- the course's one rule: compare()

A = torch.tensor([1.0] * 90 + [0.0] * 10)          # 90%
B = torch.tensor([1.0] * 40 + [0.0] * 60)          # 40%, on the same 100 examples


def test_compare_a_difference_either_way():
    c = compare(A, B, margin=0.03, names=("lora", "base"))
    assert c.verdict == "lora higher" and c.diff.low > 0.3
    assert (c.mean_a, c.mean_b, c.n_examples, c.n_seeds) == (0.9, 0.4, 100, (1, 1))
    assert compare(B, A, margin=0.03, names=("base", "lora")).verdict == "lora higher"


def test_compare_equivalent_needs_the_interval_inside_the_margin():
    # two systems that disagree on 2 of 400 examples, one each way: the interval is about ±0.5 points
    a = torch.tensor([1.0] * 300 + [0.0] * 100)
    b = a.clone()
    b[0], b[-1] = 0.0, 1.0
    c = compare(a, b, margin=0.03)
    assert c.verdict == "equivalent (within ±0.03)" and -0.03 < c.diff.low <= c.diff.high < 0.03
    assert c.describe(percent=True) == "equivalent (within ±3 points)"
    assert c.describe(percent=False) == "equivalent (within ±0.03)"
    assert c.describe(percent=False, unit="nats") == "equivalent (within ±0.03 nats)"
    with pytest.raises(TypeError, match="unit must be a string"):
        c.describe(percent=False, unit=0.01)
    with pytest.raises(ValueError, match="percent=False"):
        c.describe(percent=True, unit="nats")
    # the same data with a margin narrower than the interval: not equivalent, and no difference either
    assert compare(a, b, margin=0.001).verdict == "inconclusive"


def test_compare_inconclusive_is_not_equivalent():
    # the interval holds 0 (an older rule called this a tie), but it is 40 points wide
    a, b = [1.0, 0.0] * 50, [0.0, 1.0] * 50
    c = compare(a, b, margin=0.03)
    assert c.diff.low < 0 < c.diff.high and c.diff.high - c.diff.low > 0.2
    assert c.verdict == "inconclusive"


def test_compare_both_fail_is_said_first():
    a, b = [0.0] * 95 + [1.0] * 5, [0.0] * 99 + [1.0]     # 5% vs 1%: a difference, but both under 10%
    assert compare(a, b, margin=0.01).verdict == "a higher"       # without a floor, the usual rule
    assert compare(a, b, margin=0.01, floor=0.10).verdict == "both fail"
    assert compare(A, B, margin=0.03, floor=0.5, names=("lora", "base")).verdict == "lora higher"  # one above


def _seeds(n_seeds: int, n: int, p: float, seed: int) -> torch.Tensor:
    """(seeds, n) 0/1 scores as training seeds give them: an example is easy (right with probability 0.9
    for each seed) with probability p, else hard (0.1). The seeds agree on most examples, not on all."""
    gen = torch.Generator().manual_seed(seed)
    easy = torch.rand(n, generator=gen, dtype=torch.float64) < p                 # (n,)
    keep = torch.rand(n_seeds, n, generator=gen, dtype=torch.float64) < 0.9       # (seeds, n)
    return (keep == easy).double()


def test_compare_averages_seeds_per_example_then_resamples_examples():
    sa, sb = _seeds(3, 200, 0.6, seed=1), _seeds(3, 200, 0.5, seed=2)   # seeds x examples, for a and for b
    c = compare(sa, sb, margin=0.03, names=("a, 3 seeds", "b, 3 seeds"))
    assert c.n_seeds == (3, 3) and c.n_examples == 200
    assert c.mean_a == pytest.approx(sa.mean().item()) and c.mean_b == pytest.approx(sb.mean().item())
    # the interval is the bootstrap of the 200 per-example differences of seed means ...
    assert c.diff == bootstrap_ci(sa.mean(dim=0) - sb.mean(dim=0))
    # ... not of the 600 seed-and-example differences pooled as if they were 600 independent examples, which
    # would be narrower: the seeds of one example agree, so 3 seeds are not 3 times the examples
    pooled = bootstrap_ci((sa - sb).reshape(-1))
    assert pooled.mean == pytest.approx(c.diff.mean) and pooled.high - pooled.low < 0.8 * (c.diff.high - c.diff.low)
    # each seed's mean comes back, to report beside the interval (which does not cover the seeds' spread)
    assert c.seed_means[0] == pytest.approx(sa.mean(dim=1).tolist())
    assert c.seed_means[1] == pytest.approx(sb.mean(dim=1).tolist()) and len(set(c.seed_means[0])) == 3
    # a base model (1-D) against three seeds: the seeds are averaged, the base model is one "seed"
    base = _seeds(1, 200, 0.5, seed=3)[0]
    c = compare(sa, base, margin=0.03)
    assert c.n_seeds == (3, 1) and c.diff == bootstrap_ci(sa.mean(dim=0) - base) and len(c.seed_means[1]) == 1
    # a 1-D array of 600 scores would be 600 examples, not 3 seeds of 200: refused as unpaired
    with pytest.raises(ValueError, match="same examples"):
        compare(sa.reshape(-1), base, margin=0.03)


# 1000 examples, a right on 300; b misses 12 of those: a - b = +1.2 points, interval about [+0.6, +1.9]
THIRTY = [1.0] * 300 + [0.0] * 700
TWELVE_FEWER = [0.0] * 12 + THIRTY[12:]


def test_compare_equivalent_is_checked_before_higher():
    # the interval lies above 0 AND inside ±3 points: the rule says "equivalent", a difference too small to matter
    c = compare(THIRTY, TWELVE_FEWER, margin=0.03)
    assert 0 < c.diff.low < c.diff.high < 0.03 and c.verdict == "equivalent (within ±0.03)"
    assert compare(TWELVE_FEWER, THIRTY, margin=0.03).verdict == "equivalent (within ±0.03)"
    # with a margin of 1 point the interval is no longer inside it, and the difference shows
    assert compare(THIRTY, TWELVE_FEWER, margin=0.01).verdict == "a higher"
    assert compare(TWELVE_FEWER, THIRTY, margin=0.01).verdict == "b higher"


def test_compare_an_interval_ending_exactly_at_0_is_inconclusive():
    # 2 of 10 right against 0 of 10: the resamples that miss both give a difference of 0, so the low end is 0
    a, b = [1.0, 1.0] + [0.0] * 8, [0.0] * 10
    c = compare(a, b, margin=0.03)
    assert c.diff.low == 0 and c.diff.high > 0.03 and c.verdict == "inconclusive"
    c = compare(b, a, margin=0.03)
    assert c.diff.high == 0 and c.diff.low < -0.03 and c.verdict == "inconclusive"


def test_compare_margin_bounds_are_exclusive():
    high = compare(THIRTY, TWELVE_FEWER, margin=0.03).diff.high
    assert compare(THIRTY, TWELVE_FEWER, margin=high).verdict == "a higher"                  # high == margin: not inside
    assert compare(THIRTY, TWELVE_FEWER, margin=high + 1e-9).verdict.startswith("equivalent")
    low = compare(TWELVE_FEWER, THIRTY, margin=0.03).diff.low
    assert compare(TWELVE_FEWER, THIRTY, margin=-low).verdict == "b higher"                  # low == -margin: not inside
    assert compare(TWELVE_FEWER, THIRTY, margin=-low + 1e-9).verdict.startswith("equivalent")


def test_compare_equivalent_needs_enough_examples_for_the_margin():
    # no disagreement gives the interval [0, 0] at any n; with 0 of n the disagreement rate may still be ~3/n
    assert compare([1] * 10, [1] * 10, margin=0.03).verdict == "inconclusive"
    assert compare([1, 0] * 5, [1, 0] * 5, margin=0.03).verdict == "inconclusive"
    assert compare([1] * 100, [1] * 100, margin=0.03).verdict == "inconclusive"              # 3/100 is not below 0.03
    assert compare([1] * 100, [1] * 100, margin=0.031).verdict.startswith("equivalent")
    assert compare([1] * 101, [1] * 101, margin=0.03).verdict.startswith("equivalent")
    assert compare([1] * 10, [1] * 10, margin=0.31).verdict.startswith("equivalent")         # a wide margin: 3/10 below it


def test_compare_level_sets_the_interval():
    c95, c90 = (compare(THIRTY, TWELVE_FEWER, margin=0.03, level=level) for level in (0.95, 0.9))
    assert (c95.diff.level, c90.diff.level) == (0.95, 0.9)
    assert c95.diff == paired_difference_ci(THIRTY, TWELVE_FEWER, level=0.95)
    assert c90.diff == paired_difference_ci(THIRTY, TWELVE_FEWER, level=0.9)
    assert c90.diff.high - c90.diff.low < c95.diff.high - c95.diff.low
    assert "95% CI" in comparison_table([c95]) and "90% CI" in comparison_table([c90])


def test_comparison_table_rows_and_rule():
    one_apart = A.clone()
    one_apart[0] = 0.0                                    # 1 disagreement in 100: [0, +3] points, inside ±5
    cs = [compare(A, B, margin=0.03, names=("lora", "base")), compare(A, one_apart, margin=0.05, names=("r=16", "r=64")),
          compare([1.0, 0.0] * 50, [0.0, 1.0] * 50, margin=0.03, names=("x", "y"))]
    lines = comparison_table(cs).splitlines()
    assert len(lines) == 2 + 3 + 1                        # header, rule, one row each, the rule line
    assert lines[0].split()[:3] == ["comparison", "a", "b"] and lines[0].rstrip().endswith("verdict")
    assert lines[2].startswith("lora vs base") and "90.0%" in lines[2] and "40.0%" in lines[2]
    assert "+50.0 [" in lines[2] and lines[2].endswith("lora higher")
    assert lines[3].endswith("equivalent (within ±5 points)")
    assert lines[4].endswith("inconclusive")
    assert lines[5].startswith("Rule (lorakit.stats.compare)") and "±3 points / ±5 points" in lines[5]
    assert "100 paired" in lines[5] and "not which seeds were drawn" in lines[5] and "3/n below it" in lines[5]
    fractions = comparison_table(cs[:1], percent=False).splitlines()
    assert "0.900" in fractions[2] and "+0.500 [" in fractions[2] and "±0.03" in fractions[-1]


def test_comparison_table_names_sizes_when_rows_differ():
    cs = [compare(A, B, margin=0.03), compare(A, B, margin=0.03, names=("c", "d")),
          compare(torch.stack([A, A]), B, margin=0.05, names=("e", "f")), compare(A[:10], B[:10], margin=0.03)]
    lines = comparison_table(cs).splitlines()
    assert lines[2].startswith("a vs b  ") and lines[3].startswith("c vs d  ")   # the usual size: in the rule line
    assert lines[4].startswith("e vs f (n=100, seeds 2/1)") and lines[5].startswith("a vs b (n=10)")
    assert "over 100 paired examples (n where a row says)" in lines[-1] and "±3 points / ±5 points" in lines[-1]
    # the row with two seeds gets their means under the table (the interval does not cover the seeds' spread)
    assert lines[6] == "Per-seed means, e vs f (n=100, seeds 2/1): e 90.0 / 90.0%, f 40.0%."
    assert len(lines) == 2 + 4 + 1 + 1


def test_compare_unbounded_scores_drop_the_rule_of_three():
    # a loss in nats on 40 documents: 3/40 = 0.075 is far above a 0.01-nat margin, but the rule of three is a
    # bound on a disagreement rate of 0/1 scores and says nothing about a loss; its interval decides alone
    g = torch.Generator().manual_seed(0)
    loss = 2.0 + 0.3 * torch.rand(40, generator=g, dtype=torch.float64)
    close = loss + 0.002 * (torch.rand(40, generator=g, dtype=torch.float64) - 0.5)   # straddles 0
    assert compare(loss, close, margin=0.01).verdict == "inconclusive"                     # bounded: 3/40 >= 0.01
    c = compare(loss, close, margin=0.01, bounded=False, names=("dq loss", "loss"))
    assert c.verdict == "equivalent (within ±0.01)" and not c.bounded
    assert compare(loss + 0.05, loss, margin=0.01, bounded=False, names=("x", "y")).verdict == "x higher"
    assert "no 3/n condition" in comparison_table([c], percent=False).splitlines()[-1]
    with pytest.raises(TypeError, match="bounded"):
        compare(loss, close, margin=0.01, bounded="no")


def test_comparison_table_per_seed_and_digits():
    two = torch.stack([A, A.flip(0)])
    cs = [compare(two, B, margin=0.03, names=("e", "f")), compare(A, B, margin=0.03, names=("c", "d"))]
    lines = comparison_table(cs, per_seed="lines").splitlines()
    assert lines[4].startswith("Per-seed means, e vs f") and len(lines) == 2 + 2 + 1 + 1
    column = comparison_table(cs, per_seed="column").splitlines()
    assert len(column) == 2 + 2 + 1 and column[0].rstrip().endswith("per-seed means (a | b), %")
    assert column[2].endswith(f"{100 * A.mean():.1f}/{100 * A.flip(0).mean():.1f} | {100 * B.mean():.1f}")
    assert column[3].rstrip().endswith("c higher") or column[3].rstrip().endswith("inconclusive") or "equivalent" in column[3]
    off = comparison_table(cs, per_seed="off").splitlines()
    assert len(off) == 2 + 2 + 1 and not any(line.startswith("Per-seed") for line in off)
    fine = comparison_table(cs[1:], percent=False, digits=4).splitlines()
    assert f"{float(A.mean()):.4f}" in fine[2] and f"{float(A.mean()):.3f} " not in fine[2]
    with pytest.raises(ValueError, match="per_seed"):
        comparison_table(cs, per_seed="rows")
    with pytest.raises(ValueError, match="digits"):
        comparison_table(cs, digits=-1)
    with pytest.raises(TypeError, match="list of Comparison"):
        comparison_table("not a list")


@pytest.mark.parametrize("args, kwargs, error, match", [
    (([1, 0], [1, 0, 1]), {"margin": 0.03}, ValueError, "same examples"),
    (([1, 0], [1, 0]), {"margin": 0}, ValueError, "margin must be > 0"),
    (([1, 0], [1, 0]), {"margin": -0.1}, ValueError, "margin must be > 0"),
    (([1, 0], [1, 0]), {"margin": "3"}, TypeError, "margin must be a number"),
    (([1, 0], [1, 0]), {"margin": float("nan")}, ValueError, "finite"),
    (([], []), {"margin": 0.03}, ValueError, "at least one"),
    (([[1, 0]] * 2, [[[1, 0]]]), {"margin": 0.03}, ValueError, "1-D .* or 2-D"),
    (("1010", [1, 0, 1, 0]), {"margin": 0.03}, TypeError, "per-example scores"),
    (([1, float("nan")], [1, 0]), {"margin": 0.03}, ValueError, "NaN"),
    (([1, 0], [1, 0]), {"margin": 0.03, "names": "ab"}, TypeError, "two strings"),
    (([1, 0], [1, 0]), {"margin": 0.03, "n_boot": 5}, ValueError, "n_boot"),
])
def test_compare_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        compare(*args, **kwargs)


def test_compare_margin_is_required_and_keyword_only():
    with pytest.raises(TypeError):
        compare([1, 0], [1, 0])
    with pytest.raises(TypeError):
        compare([1, 0], [1, 0], 0.03)


def test_comparison_table_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        comparison_table([])
    with pytest.raises(TypeError, match="Comparison"):
        comparison_table([bootstrap_ci([1.0, 0.0])])
    assert isinstance(compare([1.0], [1.0], margin=0.1), Comparison)
