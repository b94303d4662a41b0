"""The notebook-05 checkers: ✓ for right answers, "not done yet" for the stub, the slip named for
wrong ones, and an AssertionError for anything but ✓ in strict mode (the solutions notebook)."""
import math

import pytest
import torch

from lorakit import exercises
from lorakit.exercises.nb05 import check_linear_delta, check_two_task_weights


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(exercises.STRICT_ENV, raising=False)
    monkeypatch.setattr(exercises, "_strict", None)


def line(capsys) -> str:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return out[0]


def right_linear(As, Bs, scalings, weights):
    A = sum(math.copysign(math.sqrt(abs(w * s)), w * s) * a for a, w, s in zip(As, weights, scalings))
    B = sum(math.sqrt(abs(w * s)) * b for b, w, s in zip(Bs, weights, scalings))
    return B @ A


def _factors(As, Bs, wa, wb):
    return sum(c * b for b, c in zip(Bs, wb)) @ sum(c * a for a, c in zip(As, wa))


def test_right_linear_gets_a_check_mark(capsys):
    assert check_linear_delta(right_linear) is True
    assert line(capsys).startswith("Exercise 1: ✓")


def test_placeholder_is_not_done_yet(capsys):
    assert check_linear_delta(lambda *a: None) is False
    assert line(capsys).startswith("Exercise 1: not done yet: ")
    assert check_two_task_weights(lambda: None, None, None) is False
    assert line(capsys).startswith("Exercise 2: not done yet: ")


@pytest.mark.parametrize("linear,match", [
    (lambda As, Bs, s, w: sum(x * y * (b @ a) for a, b, x, y in zip(As, Bs, s, w)), "exact weighted sum"),
    (lambda As, Bs, s, w: _factors(As, Bs, [x * y for x, y in zip(s, w)], [x * y for x, y in zip(s, w)]),
     "counts twice"),
    (lambda As, Bs, s, w: _factors(As, Bs, [math.copysign(math.sqrt(abs(y)), y) for y in w],
                                   [math.sqrt(abs(y)) for y in w]), "scalings"),
    (lambda As, Bs, s, w: _factors(As, Bs, [math.sqrt(abs(x * y)) for x, y in zip(s, w)],
                                   [math.sqrt(abs(x * y)) for x, y in zip(s, w)]), "lost its sign"),
    (lambda As, Bs, s, w: _factors(As, Bs, [math.copysign(math.sqrt(abs(x * y)), y) for x, y in zip(s, w)],
                                   [math.copysign(math.sqrt(abs(x * y)), y) for x, y in zip(s, w)]), "cancels"),
    (lambda As, Bs, s, w: (sum(As), sum(Bs)), "not the factors"),
    (lambda As, Bs, s, w: right_linear(As, Bs, s, w).T, "has shape"),
    (lambda As, Bs, s, w: right_linear(As, Bs, s, w) + 0.1, "differs"),
    (lambda As, Bs, s, w: 1 / 0, "ZeroDivisionError"),
])
def test_linear_slips_are_named(linear, match, capsys):
    assert check_linear_delta(linear) is False
    out = line(capsys)
    assert out.startswith("Exercise 1: not right yet: ") and match in out, out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setattr(exercises, "_strict", True)
    with pytest.raises(AssertionError, match="Exercise 1: not right yet"):
        check_linear_delta(lambda As, Bs, s, w: torch.zeros(6, 5))


@pytest.mark.parametrize("weights,match", [([1.0], "two finite numbers"), (["a", 1], "two numbers"),
                                           ([float("nan"), 1.0], "two finite numbers")])
def test_weights_must_be_two_numbers(weights, match, capsys):
    assert check_two_task_weights(lambda: weights, None, None, shipped=False) is False
    assert match in line(capsys)


def test_weights_on_a_hub_model_are_not_scored(capsys):
    assert check_two_task_weights(lambda: [1.0, 1.0], None, None, shipped=False) is True
    assert "shipped model only" in line(capsys)
