"""README.md's notebook table: one row per notebook, found by its link, and one column filled at a time.

``scripts/course_times.py`` (the measured CPU times) and ``scripts/learner_time.py`` (the reading
minutes) each fill one column through :func:`fill_column`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

ROW_LINK = re.compile(r"\]\(notebooks/([0-9][0-9]_[^)/]+)\.ipynb\)")


def fill_column(readme: str, column: str, cells: Mapping[str, str]) -> str:
    """``readme`` with the cell of column ``column`` set to ``cells[stem]`` in each notebook's row.

    Rows are the table lines that link ``notebooks/<stem>.ipynb``; stems missing from ``cells`` keep
    their cell. Raises ``ValueError`` when no table header names ``column``.
    """
    lines, index = readme.splitlines(keepends=True), None
    for i, line in enumerate(lines):
        parts = line.rstrip("\n").split(" | ")
        if line.startswith("|") and column in line:
            index = [c.strip(" |") for c in parts].index(column)
        link = ROW_LINK.search(line)
        if index is not None and line.startswith("|") and link and link.group(1) in cells:
            parts[index] = cells[link.group(1)]
            lines[i] = " | ".join(parts) + "\n"
    if index is None:
        raise ValueError(f"README has no table column named {column!r}")
    return "".join(lines)


__all__ = ["ROW_LINK", "fill_column"]
