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


def _step(timer, seconds):
    timer.on_step_begin(None, None, None)
    time.sleep(seconds)
    timer.on_step_end(None, None, None)


def test_step_timer_leaves_the_warm_up_step_out():
    from lorakit.course.timing import StepTimer

    timer = StepTimer(warmup=1)
    _step(timer, 0.15)                    # a slow first step, as the first run of a process has
    for _ in range(3):
        _step(timer, 0.01)
    assert len(timer.times) == 4 and timer.times[0] >= 0.15
    assert 0.009 < timer.seconds_per_step() < 0.1          # the warm-up step would pull a mean to >= 0.045
    with_warmup = StepTimer(warmup=0)
    _step(with_warmup, 0.15)
    assert with_warmup.seconds_per_step() >= 0.15


def test_step_timer_refuses_too_few_steps_and_bad_warmup():
    from lorakit.course.timing import StepTimer

    timer = StepTimer(warmup=2)
    _step(timer, 0.0)
    with pytest.raises(ValueError, match="none after the 2 warm-up"):
        timer.seconds_per_step()
    for bad in (-1, 1.0, True):
        with pytest.raises(ValueError):
            StepTimer(warmup=bad)
