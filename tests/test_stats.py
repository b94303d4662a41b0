"""Bootstrap intervals: they cover the mean, shrink with more examples, and call overlaps ties."""
import pytest
import torch

from lorakit.stats import (Comparison, bootstrap_ci, compare, comparison_table, format_ci, paired_difference_ci,
                           verdict)


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


def test_paired_difference_and_verdict():
    a = torch.tensor([1.0] * 90 + [0.0] * 10)
    b = torch.tensor([1.0] * 40 + [0.0] * 60)
    assert paired_difference_ci(a, b).low > 0.3
    assert verdict(a, b, names=("lora", "base")) == "lora higher"
    assert verdict(b, a, names=("base", "lora")) == "lora higher"
    c = a.clone()
    c[0] = 0.0  # one example apart: a tie
    assert verdict(a, c) == "tie"


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
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point and 0 exactly: the same score written two ways is a tie.
    a, b = [0.1 + 0.2] * 5, [0.3] * 5
    assert verdict(a, b) == "tie"
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
    # the same data with a margin narrower than the interval: not equivalent, and no difference either
    assert compare(a, b, margin=0.001).verdict == "inconclusive"


def test_compare_inconclusive_is_not_equivalent():
    # the old rule's "tie": the interval holds 0, but it is 40 points wide
    a, b = [1.0, 0.0] * 50, [0.0, 1.0] * 50
    c = compare(a, b, margin=0.03)
    assert c.diff.low < 0 < c.diff.high and c.diff.high - c.diff.low > 0.2
    assert verdict(a, b) == "tie" and c.verdict == "inconclusive"


def test_compare_both_fail_is_said_first():
    a, b = [0.0] * 95 + [1.0] * 5, [0.0] * 99 + [1.0]     # 5% vs 1%: a difference, but both under 10%
    assert compare(a, b, margin=0.01).verdict == "a higher"       # without a floor, the usual rule
    assert compare(a, b, margin=0.01, floor=0.10).verdict == "both fail"
    assert compare(A, B, margin=0.03, floor=0.5, names=("lora", "base")).verdict == "lora higher"  # one above


def test_compare_averages_seeds_per_example():
    # three seeds of a: on each example one seed in three is right (1/3); b is a single seed at 1/3 exactly
    seeds = torch.zeros(3, 90)
    for e in range(90):
        seeds[e % 3, e] = 1.0
    c = compare(seeds, torch.full((90,), 1 / 3, dtype=torch.float64), margin=0.03, names=("three seeds", "one"))
    assert c.n_seeds == (3, 1) and c.n_examples == 90
    assert c.diff.low == c.diff.high == 0 and c.verdict.startswith("equivalent")
    # per-example averaging, not pooling: the seeds' mean per example is what is compared
    assert c.mean_a == pytest.approx(1 / 3)
    # a 1-D array of 270 scores would be 270 examples, not 3 seeds of 90: refused as unpaired
    with pytest.raises(ValueError, match="same examples"):
        compare(seeds.reshape(-1), torch.full((90,), 1 / 3, dtype=torch.float64), margin=0.03)


def test_comparison_table_rows_and_rule():
    cs = [compare(A, B, margin=0.03, names=("lora", "base")), compare(A, A, margin=0.03, names=("r=16", "r=64")),
          compare([1.0, 0.0] * 50, [0.0, 1.0] * 50, margin=0.03, names=("x", "y"))]
    lines = comparison_table(cs).splitlines()
    assert len(lines) == 2 + 3 + 1                        # header, rule, one row each, the rule line
    assert lines[0].split()[:3] == ["comparison", "a", "b"] and lines[0].rstrip().endswith("verdict")
    assert lines[2].startswith("lora vs base") and "90.0%" in lines[2] and "40.0%" in lines[2]
    assert "+50.0 [" in lines[2] and lines[2].endswith("lora higher")
    assert lines[3].endswith("equivalent (within ±3 points)")
    assert lines[4].endswith("inconclusive")
    assert lines[5].startswith("Rule (lorakit.stats.compare)") and "±3 points" in lines[5] and "100 paired" in lines[5]
    fractions = comparison_table(cs[:1], percent=False).splitlines()
    assert "0.900" in fractions[2] and "+0.500 [" in fractions[2] and "±0.03" in fractions[-1]


def test_comparison_table_names_sizes_when_rows_differ():
    cs = [compare(A, B, margin=0.03), compare(A, B, margin=0.03, names=("c", "d")),
          compare(torch.stack([A, A]), B, margin=0.05, names=("e", "f")), compare(A[:10], B[:10], margin=0.03)]
    lines = comparison_table(cs).splitlines()
    assert lines[2].startswith("a vs b  ") and lines[3].startswith("c vs d  ")   # the usual size: in the rule line
    assert lines[4].startswith("e vs f (n=100, seeds 2/1)") and lines[5].startswith("a vs b (n=10)")
    assert "over 100 paired examples (n where a row says)" in lines[-1] and "±3 points / ±5 points" in lines[-1]


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
