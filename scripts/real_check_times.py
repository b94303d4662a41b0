#!/usr/bin/env python
"""Write ``make real-check``'s per-notebook results into README.md's column "real 135M weights, CPU".

    make real-check                               # runs this at the end
    python scripts/real_check_times.py            # from build/real-check/summary.json

``build/real-check/summary.json`` (``scripts/run_course.py`` with the real SmolLM2-135M-Instruct weights
of ``make real-weights`` as ``LORAKIT_MODEL_ID``, preset ``cpu-hub``) is the one source of that
column: a notebook that ran ``ok`` gets its seconds, and its exact match before → after fine-tuning
where it recorded ``em_before``/``em_after``; one that failed gets "fails". The column is inserted
after "2-core CPU" the first time. Rows of notebooks that did not run are left as they are.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLUMN = "real 135M weights, CPU"
AFTER = "2-core CPU"
ROW_LINK = re.compile(r"\]\(notebooks/([0-9][0-9]_[^)/]+)\.ipynb\)")


def cell(row: dict) -> str:
    """The README cell for one notebook's summary row."""
    if row.get("status") != "ok":
        return "fails"
    text = f"{row['seconds']:.0f} s"
    res = row.get("results") or {}
    before, after = res.get("em_before"), res.get("em_after")
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        text += f", EM {100 * before:.0f}% → {100 * after:.0f}%"
    return text


def fill(readme: str, summary: dict) -> str:
    """``readme`` with the column set (and added after "2-core CPU" if absent) from ``summary``."""
    lines, column = readme.splitlines(keepends=True), None
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            column = None if not line.strip() else column
            continue
        cells = line.rstrip("\n").split(" | ")
        names = [c.strip(" |") for c in cells]
        if AFTER in names:                                  # the header row
            if COLUMN not in names:
                at = names.index(AFTER) + 1
                cells.insert(at, COLUMN)
                lines[i + 1] = _insert(lines[i + 1], at, "---")
                for j in range(i + 2, len(lines)):
                    if not lines[j].startswith("|"):
                        break
                    lines[j] = _insert(lines[j], at, "not run")
                lines[i] = " | ".join(cells) + "\n"
                names = [c.strip(" |") for c in cells]
            column = names.index(COLUMN)
            continue
        link = ROW_LINK.search(line)
        if column is not None and link and link.group(1) in summary:
            cells[column] = cell(summary[link.group(1)])
            lines[i] = " | ".join(cells) + "\n"
    return "".join(lines)


def _insert(line: str, at: int, value: str) -> str:
    if set(line.strip()) <= set("|-"):                    # the |---|---| separator
        parts = line.rstrip("\n").split("|")
        parts.insert(at + 1, value)
        return "|".join(parts) + "\n"
    cells = line.rstrip("\n").split(" | ")
    cells.insert(at, value)
    return " | ".join(cells) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", type=Path, default=REPO / "build" / "real-check" / "summary.json")
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = ap.parse_args(argv)
    if not args.summary.exists():
        print(f"no {args.summary}: run make real-check first", file=sys.stderr)
        return 1
    summary = json.loads(args.summary.read_text())
    args.readme.write_text(fill(args.readme.read_text(), summary))
    print(f"README.md: column {COLUMN!r} from {len(summary)} notebook(s) of {args.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
