"""lorakit.course.timing: medians of real calls, interleaved comparisons, clear errors."""
import time

import pytest

from lorakit.course.timing import compare_seconds, median_seconds


def test_median_tracks_a_known_sleep():
    t = median_seconds(lambda: time.sleep(0.02), repeats=3, warmup=0)
    assert 0.018 < t < 0.2


def test_compare_orders_slow_and_fast():
    out = compare_seconds({"slow": lambda: time.sleep(0.03), "fast": lambda: None}, repeats=2, rounds=2)
    assert out["slow"] > out["fast"] and set(out) == {"slow", "fast"}


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"warmup": -1}, {"repeats": 1.5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        median_seconds(lambda: None, **kwargs)
