"""Wall-clock timing that survives a noisy machine: warm up, repeat, take the median.

Used for every speed number a notebook prints (latency of merged vs unmerged adapters, seconds per
step of full vs sparse attention, seconds per training step of a ``Trainer`` with :class:`StepTimer`).
No timing includes a warm-up call or step: the first call of a process (lazy imports, allocator, kernel
selection) is slower, and a whole-run average puts it on whichever run came first. Ratios measured in
one run, side by side, are what the course reports; absolute seconds depend on the machine.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from transformers import TrainerCallback


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    On a GPU each call is followed by ``torch.cuda.synchronize()`` so the time covers the kernels.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_seconds(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                    rounds: int = 1) -> dict[str, float]:
    """Median seconds of each named function, timed in interleaved rounds so drift hits all alike.

    ``rounds`` > 1 alternates the functions (a, b, a, b, ...) and takes the median over all calls.
    """
    if not fns:
        raise ValueError("compare_seconds needs at least one function")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(median_seconds(fn, repeats=repeats, warmup=0))
    return {name: statistics.median(values) for name, values in samples.items()}


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step of a transformers ``Trainer``; :meth:`seconds_per_step` leaves out warm-up.

    Each step is timed from ``on_step_begin`` to ``on_step_end`` (the forward, backward and optimizer
    step; work that other callbacks do at ``on_step_end``, such as scoring, is off the clock when this
    timer is listed before them). On a GPU the clock waits for the kernels.

    Args:
        warmup: the first ``warmup`` steps, left out of :meth:`seconds_per_step`.
    """

    def __init__(self, warmup: int = 1):
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
        self.warmup, self.times = warmup, []
        self._start: float | None = None

    @staticmethod
    def _sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._start = time.perf_counter()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self._start is not None:
            self._sync()
            self.times.append(time.perf_counter() - self._start)
            self._start = None
        return control

    def seconds_per_step(self) -> float:
        """The median seconds of the steps after the first ``warmup``."""
        timed = self.times[self.warmup:]
        if not timed:
            raise ValueError(f"{len(self.times)} step(s) timed, none after the {self.warmup} warm-up step(s): "
                             "train for more steps")
        return statistics.median(timed)


__all__ = ["StepTimer", "compare_seconds", "median_seconds"]
