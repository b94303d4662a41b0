"""A checker that fails by itself (a library's error, a device mismatch) prints one "not right yet"
line naming the error, never a traceback, so "Run all" goes on; in strict mode it still raises."""
import pytest

from lorakit import exercises


@pytest.fixture
def broken_checker():
    """A throw-away checker (notebook 99, a draft: kept out of the registry's lists and removed after)."""
    @exercises.exercise(1, hints=("the idea",), notebook=99, draft=True)
    def check_broken(fn):
        answer = exercises.call(fn)
        if answer == "crash":
            raise RuntimeError("Expected all tensors to be on the same device, but found cuda:0 and cpu")
        if answer != 42:
            raise AssertionError("not 42")
        return "42"
    yield check_broken
    exercises._REGISTRY.pop((99, 1), None)


def test_an_error_of_the_checker_itself_is_one_line(broken_checker, capsys):
    exercises.set_strict(False)
    assert broken_checker(lambda: "crash") is False
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    assert out[0].startswith("Exercise 1: not right yet: the checker stopped with RuntimeError: Expected all "
                             "tensors to be on the same device"), out
    # the usual verdicts are unchanged
    assert broken_checker(lambda: 41) is False and "not right yet: not 42" in capsys.readouterr().out
    assert broken_checker(lambda: 42) is True and "✓ 42" in capsys.readouterr().out
    assert broken_checker(lambda: None) is False and "not done yet" in capsys.readouterr().out


def test_strict_mode_still_raises_with_the_cause(broken_checker, capsys):
    exercises.set_strict(True)
    try:
        with pytest.raises(AssertionError, match="the checker stopped with RuntimeError") as info:
            broken_checker(lambda: "crash")
        assert isinstance(info.value.__cause__, RuntimeError)
        with pytest.raises(AssertionError, match="not 42") as info:
            broken_checker(lambda: 41)
        assert info.value.__cause__ is None
    finally:
        exercises.set_strict(False)
