"""The notebook-05 checkers: ✓ for right answers, "not done yet" for the stub, the slip named for
wrong ones, and an AssertionError for anything but ✓ in strict mode (the solutions notebook)."""
import math

import pytest
import torch

from lorakit import exercises
from lorakit.data.tasks import TASKS
from lorakit.exercises.nb05 import BASE, check_linear_delta, check_route


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
    assert check_route(lambda p: None) is False
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


def right_route(prompt):
    for task in TASKS.values():
        if prompt.endswith(task.template.rsplit("}", 1)[1]):
            return task.name
    return BASE


def test_right_routing_is_checked_name_by_name(capsys):
    assert check_route(right_route, shipped=False) is True
    assert "routed right" in line(capsys)


@pytest.mark.parametrize("route,match", [
    (lambda p: "qa", "routed wrong, e.g. a 'record' prompt to 'qa'"),
    (lambda p: right_route(p) if right_route(p) != BASE else "qa", "a '__base__' prompt to 'qa'"),   # no fallback
    (lambda p: 1 / 0, "raised ZeroDivisionError"),
])
def test_routing_slips_are_named(route, match, capsys):
    assert check_route(route, shipped=False) is False
    out = line(capsys)
    assert out.startswith("Exercise 2: not right yet: ") and match in out, out


def test_routing_stub_is_not_done(capsys):
    assert check_route(lambda p: None, shipped=False) is False
    assert "not done yet" in line(capsys)
