"""Reading and writing the precomputed result tables in ``data/results/`` (one owner for the format).

Every study's producer script (``scripts/producers/*.py``) writes its table with :func:`save_table`
and the notebooks read it back with :func:`load_table`, which names the producer when the file is
missing, so a learner who deleted ``data/results/`` knows which script rebuilds it.
"""
from __future__ import annotations

import json
from pathlib import Path


def save_table(table: dict, path: str | Path) -> Path:
    """Write ``table`` as indented JSON at ``path`` (parents created) and return the path."""
    if not isinstance(table, dict):
        raise TypeError(f"a result table is a dict, got {type(table).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1) + "\n")
    return path


def load_table(path: str | Path, producer: str) -> dict:
    """The table at ``path``; a missing file raises ``FileNotFoundError`` naming ``producer``.

    Args:
        path: the JSON file.
        producer: the script that writes it, e.g. ``"scripts/producers/merge_sweep.py"``.
    """
    if not isinstance(producer, str) or not producer:
        raise ValueError("load_table needs the producer script's path for its error message")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python {producer} to build it")
    table = json.loads(path.read_text())
    if not isinstance(table, dict):
        raise ValueError(f"{path} does not hold a result table (a JSON object)")
    return table


__all__ = ["load_table", "save_table"]
