"""Checkers for the notebooks' exercises: they say what is wrong, and never stop "Run all".

One module per notebook (``nb01``, ``nb03``, ...). Colab and Kaggle ignore cell tags, so an
exercise cell must not raise in a course notebook, or "Run all" stops at the first exercise. The
convention, shared by every notebook:

* the stub the learner fills in returns a placeholder (``None``) instead of raising;
* its checker, wrapped in :func:`exercise`, prints exactly one line:

  - ``Exercise 2: not done yet: <hint> (hint 1 of 3: run the cell again for the next)`` while the
    stub still returns ``None`` (or raises ``NotImplementedError``). Hints come in steps: the first
    names the idea, never the formula or the code; running the checker again on the unchanged stub,
    or :func:`hint`, shows the next; the last step is the link to the solutions notebook;
  - ``Exercise 2: ✓ <what was checked>`` for a right answer;
  - ``Exercise 2: not right yet: <what is wrong>`` for a wrong one, naming the slip (an unexpected
    exception of the checker itself, e.g. a library's ``RuntimeError``, is also reported on this line,
    by type and message, never as a traceback);

  and returns ``True`` (right) or ``False`` (not done, or wrong).

In a solutions notebook, ``set_strict(True)`` (or ``LORAKIT_STRICT_EXERCISES=1``) turns the last two
cases into an ``AssertionError``, so CI fails when a solution breaks.

Every checker is registered (:func:`registered`: notebook, number, name, hints) and, outside strict
mode, records its outcome in the learner's progress file (:mod:`lorakit.progress`). A checker can run
the learner's function with the notebook's own answer-computing helpers unavailable
(:func:`without`), so importing the answer is caught and named.

Writing a checker: raise :class:`NotDone` for a placeholder and ``AssertionError(message)`` for a
wrong answer; return the ✓ line's text. ``@exercise(number)`` does the rest; the hint steps are
prose, kept in ``hints.toml`` next to this file under the key ``"NN.n"`` (a teacher can reword them
without touching Python)::

    # hints.toml
    ["01.1"]
    steps = ["the frozen layer's output plus the LoRA branch's",
             "the branch goes through A, then B, then is scaled"]

    # nb01.py
    @exercise(1)
    def check_lora_forward(lora_forward):
        got = call(lora_forward, x, W, A, B, 0.5)   # NotDone if it returns None
        if not torch.allclose(got, expected):
            raise AssertionError("the LoRA branch is missing its factor `scaling`")
        return "lora_forward matches lorakit.lora.LoRALinear"
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import operator
import os
import pkgutil
import re
import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorakit import progress
from lorakit.course.paths import NOTEBOOKS_DIR

HINTS_FILE = Path(__file__).with_name("hints.toml")

STRICT_ENV = "LORAKIT_STRICT_EXERCISES"
_strict: bool | None = None


class NotDone(Exception):
    """Raised inside a checker when the learner's function still returns its placeholder."""


class Shortcut(Exception):
    """Raised by a helper made unavailable with :func:`without` when the learner's code calls it."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


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

    Any other exception becomes an ``AssertionError`` that names it, so the checker can report it
    (a :class:`Shortcut` passes through: the checker that set it up names it).
    """
    try:
        got = fn(*args, **kwargs)
    except NotImplementedError:
        raise NotDone() from None
    except Shortcut:
        raise
    except Exception as err:  # the learner's code failed: say how, without a traceback
        name = getattr(fn, "__name__", "your function")
        raise AssertionError(f"{name} raised {type(err).__name__}: {err}") from None
    if got is None:
        raise NotDone()
    return got


def named_slip(got: Any, slips: dict[str, Any], same: Callable[[Any, Any], bool] = operator.eq) -> str | None:
    """The message of the first slip whose wrong answer ``got`` matches (by ``same``), else ``None``.

    ``slips`` maps a message naming a usual mistake to the answer that mistake gives; every checker
    that recognises slips goes through here.
    """
    for message, wrong in slips.items():
        if same(got, wrong):
            return message
    return None


@contextlib.contextmanager
def without(fn: Callable, helpers: dict[str, Callable]) -> Iterator[None]:
    """Run ``fn`` with ``helpers`` (name -> function) unavailable: calling one raises :class:`Shortcut`.

    Replaced: every global of ``fn``'s module (the notebook's namespace) bound to a helper, whatever
    its name there (``from x import f as g`` is caught too), and every ``lorakit`` module attribute
    bound to one. Everything is restored on exit.
    """
    by_id = {id(h): name for name, h in helpers.items()}

    def blocked(name: str) -> Callable:
        def raiser(*args, **kwargs):
            raise Shortcut(name)
        return raiser

    saved = []
    learner = getattr(fn, "__globals__", None)
    namespaces = [(learner, True)] + [(vars(m), False) for n, m in list(sys.modules.items())
                                      if m is not None and (n == "lorakit" or n.startswith("lorakit."))]
    for ns, is_learners in namespaces:
        if ns is None:
            continue
        for key, value in list(ns.items()):
            if id(value) in by_id and callable(value):
                name = by_id[id(value)]
                alias = is_learners and key != name.rpartition(".")[2]
                saved.append((ns, key, value))
                ns[key] = blocked(f"{name} (imported as {key})" if alias else name)
    try:
        yield
    finally:
        for ns, key, value in reversed(saved):
            ns[key] = value


# ---------------------------------------------------------------- the registry and the hints


@dataclass
class Exercise:
    """One exercise, as its checker declares it (the single source of the list of exercises)."""
    notebook: int
    number: int
    name: str                       # the function the learner writes (the checker's name less check_)
    hints: tuple[str, ...]          # the steps, first the idea; the solution link is added as the last
    draft: bool = False             # a checker not yet in its notebook: left out of registered()
    shown: int = field(default=0, compare=False)         # steps shown in this kernel
    last_stub: Any = field(default=None, compare=False)  # fingerprint of the stub that got the last step

    @property
    def key(self) -> str:
        return f"{self.notebook:02d}.{self.number}"

    @property
    def steps(self) -> tuple[str, ...]:
        return self.hints + (f"the solution, explained: {solution_link(self.notebook)}",)


_REGISTRY: dict[tuple[int, int], Exercise] = {}
MODULE = re.compile(r"(?:^|\.)nb(\d\d)$")


def solution_link(notebook: int) -> str:
    """The solutions notebook of ``notebook``, relative to the course folder."""
    found = sorted((NOTEBOOKS_DIR / "solutions").glob(f"{notebook:02d}_*_solutions.ipynb"))
    name = found[0].name if found else f"{notebook:02d}_<topic>_solutions.ipynb"
    return f"notebooks/solutions/{name}"


def registered(drafts: bool = False) -> list[Exercise]:
    """Every exercise of every notebook, in course order (imports every ``nbNN`` checker module).

    ``drafts=True`` adds the checkers declared ``draft=True`` (written, not yet in a notebook).
    """
    for info in pkgutil.iter_modules(__path__):
        if MODULE.search(info.name):
            importlib.import_module(f"{__name__}.{info.name}")
    return [_REGISTRY[k] for k in sorted(_REGISTRY) if drafts or not _REGISTRY[k].draft]


def _lookup(notebook: int, number: int) -> Exercise:
    registered(drafts=True)
    try:
        return _REGISTRY[(int(notebook), int(number))]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"no exercise {number} in notebook {notebook}; "
                         f"known: {', '.join(e.key for e in registered())}") from None


def step_text(ex: Exercise, step: int, more: str = "run the cell again for the next") -> str:
    """Step ``step`` (from 1) of ``ex``'s hints as a checker prints it, with how to get the next."""
    total = len(ex.steps)
    text = ex.steps[step - 1]
    if step < total:
        return f"{text} (hint {step} of {total}: {more})"
    return f"{text} (hint {step} of {total})"


def hint(notebook: int, number: int) -> str:
    """Print (and return) the next hint step of exercise ``number`` of ``notebook``."""
    ex = _lookup(notebook, number)
    ex.shown = min(ex.shown + 1, len(ex.steps))
    line = f"Exercise {ex.number}, {step_text(ex, ex.shown, 'call hint again for the next')}"
    print(line)
    return line


def _code_key(code) -> tuple:
    """A code object's content (nested functions' too), free of memory addresses."""
    consts = tuple(_code_key(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts)
    return code.co_code, consts, code.co_names


def _fingerprint(args: tuple) -> Any:
    """What identifies the learner's stub across re-runs of its cell (its code, not the object)."""
    code = getattr(args[0] if args else None, "__code__", None)
    return None if code is None else _code_key(code)


def _next_step(ex: Exercise, stub: Any) -> str:
    """The step a "not done" line shows: the first, the next one on an unchanged stub."""
    if ex.shown and stub is not None and stub == ex.last_stub:
        ex.shown = min(ex.shown + 1, len(ex.steps))
    else:   # a first call, or a changed stub: the step reached so far (never back)
        ex.shown = max(ex.shown, 1)
    ex.last_stub = stub
    return step_text(ex, ex.shown)


def reset_hints() -> None:
    """Start every exercise's hints again at the first step (a fresh kernel does this too)."""
    for ex in _REGISTRY.values():
        ex.shown, ex.last_stub = 0, None


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


@functools.cache
def _hints_file() -> dict[str, tuple[str, ...]]:
    with HINTS_FILE.open("rb") as f:
        table = tomllib.load(f)
    return {key: tuple(entry["steps"]) for key, entry in table.items()}


def hints_for(notebook: int, number: int) -> tuple[str, ...]:
    """The hint steps of exercise ``number`` of ``notebook`` as written in ``hints.toml``."""
    key = f"{int(notebook):02d}.{int(number)}"
    try:
        return _hints_file()[key]
    except KeyError:
        raise ValueError(f"no hints for exercise {key} in {HINTS_FILE.name}: add a [\"{key}\"] table "
                         "with steps = [...]") from None


def exercise(number: int, hints: str | Sequence[str] | None = None, *, notebook: int | None = None,
             draft: bool = False) -> Callable[[Callable[..., str | None]], Callable[..., bool]]:
    """Decorate a checker so that it prints one line and returns ``True``/``False`` (see module doc).

    Args:
        number: the exercise's number in its notebook, as the learner sees it.
        hints: the steps shown while the learner's function returns ``None``, first the idea (never
            the formula or the code); the solutions notebook's link is added as the last step. By
            default, the ``"NN.n"`` table of ``hints.toml``.
        notebook: the notebook's number; by default read from the checker's module, ``...nbNN``.
        draft: the exercise is not in its notebook yet: kept out of :func:`registered` (and so out of
            the progress table and codes) until it is.
    """
    def checked(steps: tuple) -> tuple[str, ...]:
        if not steps or not all(isinstance(h, str) and h.strip() for h in steps):
            raise ValueError("hints: at least one non-empty step")
        return steps

    if hints is not None:
        hints = checked((hints,) if isinstance(hints, str) else tuple(hints))

    def decorate(check: Callable[..., str | None]) -> Callable[..., bool]:
        nb = notebook
        if nb is None:
            found = MODULE.search(check.__module__)
            if not found:
                raise ValueError(f"{check.__module__} is not a lorakit.exercises.nbNN module: pass notebook=")
            nb = int(found.group(1))
        steps = hints if hints is not None else checked(hints_for(nb, number))
        name = check.__name__.removeprefix("check_")
        ex = _REGISTRY.setdefault((nb, int(number)), Exercise(nb, int(number), name, steps, draft))
        ex.name, ex.hints, ex.draft = name, steps, draft

        @functools.wraps(check)
        def wrapper(*args, **kwargs) -> bool:
            unexpected = None
            try:
                message = check(*args, **kwargs)
            except NotDone:
                status, text = "not done", _next_step(ex, _fingerprint(args))
            except Shortcut as err:
                status, text = "wrong", (f"your function calls {err.name}, which computes the answer for you; "
                                         "work it out without it")
            except AssertionError as err:
                status, text = "wrong", str(err)
            except Exception as err:  # the checker itself failed (a library, the machine): one line, no traceback
                unexpected = err
                status, text = "wrong", (f"the checker stopped with {type(err).__name__}: {err} (not a verdict on "
                                         "your answer; if it persists, report it with this line)")
            else:
                status, text = "done", message or "correct"
            if not is_strict() and not ex.draft:
                progress.record(nb, ex.number, status)
            try:
                return report(ex.number, status, text)
            except AssertionError as failure:   # strict mode: keep the checker's own error as the cause
                raise failure from unexpected

        wrapper.exercise = ex
        return wrapper
    return decorate


__all__ = ["Exercise", "NotDone", "STRICT_ENV", "Shortcut", "call", "exercise", "hint", "hints_for", "is_strict",
           "named_slip", "registered", "report", "reset_hints", "set_strict", "solution_link", "step_text", "without"]
