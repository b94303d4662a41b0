"""Headline numbers each notebook records, gathered by ``make course`` into one summary.

A notebook names itself once, ``start("01_lora_math_and_parameter_counting")`` (its file's stem;
``tests/test_notebooks_static.py`` checks that they agree), then calls
``record("peft_max_abs_diff", 3e-8)`` for each headline number. The values land in
``<results dir>/<notebook stem>.json`` (``$LORAKIT_RESULTS_DIR``, default ``build/results/``), and
:func:`load` reads them back: the course runner (``scripts/run_course.py``) reads them that way.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from lorakit.course.paths import BUILD_DIR

RESULTS_ENV = "LORAKIT_RESULTS_DIR"
DEFAULT_RESULTS_DIR = BUILD_DIR / "results"
INTERACTIVE = "interactive"   # where record() writes before any start(): cells run out of order
_current_notebook: str | None = None


def start(notebook: str) -> None:
    """Name the notebook whose results :func:`record` stores (call once at the top of a notebook)."""
    global _current_notebook
    if not isinstance(notebook, str) or not notebook:
        raise ValueError(f"start() needs the notebook's stem, e.g. '01_lora_math', got {notebook!r}")
    _current_notebook = notebook


def results_dir() -> Path:
    """Where result files go: ``$LORAKIT_RESULTS_DIR`` if set, else ``build/results`` in the repository."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env) if env else DEFAULT_RESULTS_DIR


def _jsonable(value: Any) -> Any:
    """Plain JSON types from tensors, numpy scalars, tuples and nested dicts."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"record() takes numbers, strings, lists or dicts of them; got {type(value).__name__}")


def record(key: str, value: Any, notebook: str | None = None) -> Any:
    """Store ``value`` under ``key`` in this notebook's result file and return ``value``.

    Args:
        key: a short snake_case name, e.g. ``"llama2_7b_params"``.
        value: a number, string, list or dict of those (tensors and numpy scalars are converted).
        notebook: the notebook stem; default the one given to :func:`start` (``"interactive"``
            before any ``start``).
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"record() needs a non-empty string key, got {key!r}")
    stem = notebook or _current_notebook or INTERACTIVE
    path = results_dir() / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = _jsonable(value)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return value


def load(notebook: str) -> dict[str, Any]:
    """The recorded results of one notebook, by stem (empty if it recorded nothing)."""
    path = results_dir() / f"{notebook}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def clear(notebook: str) -> None:
    """Forget what one notebook recorded (the course runner starts every notebook clean)."""
    (results_dir() / f"{notebook}.json").unlink(missing_ok=True)
