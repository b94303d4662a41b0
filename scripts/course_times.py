#!/usr/bin/env python
"""Write each notebook's measured CPU time into README.md's table, from ``make course``'s summary.

    make course && python scripts/course_times.py      # after a full run on the 2-core machine

``build/course/summary.json`` (written by ``scripts/run_course.py``) is the one source of the
per-notebook times the course states: this script copies its ``seconds`` into the README table's
"2-core CPU" column for every notebook that ran ``ok``, and leaves other rows as they are. The
notebooks themselves state no times (their title cells point at the README's table).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lorakit.course.paths import BUILD_DIR, REPO_ROOT
from lorakit.course.readme import fill_column

COLUMN = "2-core CPU"


def fill(readme: str, seconds: dict[str, float]) -> str:
    """``readme`` with the CPU column of each table row set from ``seconds`` (stem -> seconds)."""
    return fill_column(readme, COLUMN, {stem: f"{s:.0f} s" for stem, s in seconds.items()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", type=Path, default=BUILD_DIR / "course" / "summary.json")
    ap.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md")
    args = ap.parse_args(argv)
    summary = json.loads(args.summary.read_text())
    seconds = {stem: row["seconds"] for stem, row in summary.items() if row["status"] == "ok"}
    args.readme.write_text(fill(args.readme.read_text(), seconds))
    print(f"README.md: CPU times of {len(seconds)} notebook(s) from {args.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
