"""Bootstrap intervals: they cover the mean, shrink with more examples, and call overlaps ties."""
import pytest
import torch

from lorakit.stats import bootstrap_ci, format_ci, paired_difference_ci, verdict


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
