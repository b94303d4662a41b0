"""Checkers for the notebooks' exercises: they say what is wrong, and never stop "Run all".

One module per notebook (``nb01``, ``nb03``, ...). Colab and Kaggle ignore cell tags, so an
exercise cell must not raise in a course notebook, or "Run all" stops at the first exercise. The
convention, shared by every notebook:

* the stub the learner fills in returns a placeholder (``None``) instead of raising;
* its checker, wrapped in :func:`exercise`, prints exactly one line:

  - ``Exercise 2: not done yet: <hint>`` while the stub still returns ``None``
    (or raises ``NotImplementedError``);
  - ``Exercise 2: ✓ <what was checked>`` for a right answer;
  - ``Exercise 2: not right yet: <what is wrong>`` for a wrong one, naming the slip;

  and returns ``True`` (right) or ``False`` (not done, or wrong).

In a solutions notebook, ``set_strict(True)`` (or ``LORAKIT_STRICT_EXERCISES=1``) turns the last two
cases into an ``AssertionError``, so CI fails when a solution breaks.

Writing a checker: raise :class:`NotDone` for a placeholder and ``AssertionError(message)`` for a
wrong answer; return the ✓ line's text. ``@exercise(number, hint)`` does the rest::

    @exercise(1, hint="return x @ W.T plus the scaled LoRA branch")
    def check_lora_forward(lora_forward):
        got = call(lora_forward, x, W, A, B, 0.5)   # NotDone if it returns None
        if not torch.allclose(got, expected):
            raise AssertionError("the LoRA branch is missing its factor `scaling`")
        return "lora_forward matches lorakit.lora.LoRALinear"
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

STRICT_ENV = "LORAKIT_STRICT_EXERCISES"
_strict: bool | None = None


class NotDone(Exception):
    """Raised inside a checker when the learner's function still returns its placeholder."""


def set_strict(on: bool = True) -> None:
    """Strict mode (solutions notebooks): a wrong or unfinished answer raises ``AssertionError``."""
    global _strict
    _strict = bool(on)


def is_strict() -> bool:
    """Whether checkers raise (``set_strict`` wins over ``$LORAKIT_STRICT_EXERCISES``)."""
    if _strict is not None:
        return _strict
    return os.environ.get(STRICT_ENV, "").lower() in ("1", "true", "yes")


def call(fn: Callable, *args, **kwargs) -> Any:
    """Call the learner's ``fn``; a ``None`` result or ``NotImplementedError`` means "not done yet".

    Any other exception becomes an ``AssertionError`` that names it, so the checker can report it.
    """
    try:
        got = fn(*args, **kwargs)
    except NotImplementedError:
        raise NotDone() from None
    except Exception as err:  # the learner's code failed: say how, without a traceback
        name = getattr(fn, "__name__", "your function")
        raise AssertionError(f"{name} raised {type(err).__name__}: {err}") from None
    if got is None:
        raise NotDone()
    return got


def report(number: int | str, status: str, message: str) -> bool:
    """Print the one line for ``status`` in ``{"done", "not done", "wrong"}``; return whether done.

    In strict mode "not done" and "wrong" raise ``AssertionError`` after printing.
    """
    if status not in ("done", "not done", "wrong"):
        raise ValueError(f"status must be 'done', 'not done' or 'wrong', got {status!r}")
    prefix = {"done": "✓", "not done": "not done yet:", "wrong": "not right yet:"}[status]
    line = f"Exercise {number}: {prefix} {message}".rstrip()
    print(line)
    if status != "done" and is_strict():
        raise AssertionError(line)
    return status == "done"


def exercise(number: int | str, hint: str) -> Callable[[Callable[..., str | None]], Callable[..., bool]]:
    """Decorate a checker so that it prints one line and returns ``True``/``False`` (see module doc).

    Args:
        number: the exercise's number in its notebook, as the learner sees it.
        hint: what to do next, shown while the learner's function returns ``None``.
    """
    def decorate(check: Callable[..., str | None]) -> Callable[..., bool]:
        @functools.wraps(check)
        def wrapper(*args, **kwargs) -> bool:
            try:
                message = check(*args, **kwargs)
            except NotDone:
                return report(number, "not done", hint)
            except AssertionError as err:
                return report(number, "wrong", str(err))
            return report(number, "done", message or "correct")
        return wrapper
    return decorate


__all__ = ["NotDone", "STRICT_ENV", "call", "exercise", "is_strict", "report", "set_strict"]
