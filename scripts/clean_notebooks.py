#!/usr/bin/env python
"""Clean executed notebooks for committing: keep outputs, drop noise and local paths.

    python scripts/clean_notebooks.py notebooks/*.ipynb notebooks/solutions/*.ipynb

Numbers code cells 1..n in order (nbval rejects a cell with outputs but no execution count, and a
fixed numbering keeps diffs quiet), drops per-cell execution metadata and widget state, keeps the
kernelspec generic, and replaces absolute paths of this checkout (and the home folder) in outputs with
relative ones. Exits non-zero if an output still holds an absolute local path afterwards.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from lorakit.course.paths import REPO_ROOT

LOCAL_PATH = re.compile(r"(/work/|/root/|/home/[^/\s]+/|/tmp/|/Users/[^/\s]+/)")
# a whole path token up to site-packages/, e.g. "/x/.venv/lib/python3.11/site-packages/" (its start:
# the start of the text, or after whitespace, a quote or a bracket)
SITE_PACKAGES = re.compile(r"(^|[\s'\"(\[])[^\s'\"()\[\]]*/site-packages/", re.M)


def _scrub(text: str) -> str:
    """Local paths out of one output text: site-packages first (it may lie inside the checkout)."""
    text = SITE_PACKAGES.sub(r"\1site-packages/", text)
    text = text.replace(str(REPO_ROOT) + "/", "").replace(str(REPO_ROOT), ".")
    return text.replace(os.path.expanduser("~"), "~")


def clean(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    nb["metadata"] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    problems = []
    count = 0
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {})
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            meta.pop(key, None)
        cell["metadata"] = meta
        if cell["cell_type"] != "code":
            continue
        count += 1
        cell["execution_count"] = count
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result":
                out["execution_count"] = count
            if "text" in out:
                out["text"] = [_scrub(t) for t in out["text"]] if isinstance(out["text"], list) else _scrub(out["text"])
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    if isinstance(value, list):
                        out["data"][mime] = [_scrub(v) for v in value]
                    elif isinstance(value, str):
                        out["data"][mime] = _scrub(value)
            if "traceback" in out:
                out["traceback"] = [_scrub(t) for t in out["traceback"]]
            blob = json.dumps(out)
            blob = re.sub(r'"image/png": "[^"]*"', "", blob)
            if LOCAL_PATH.search(blob):
                problems.append(f"{path}: cell {i} output holds a local path: {LOCAL_PATH.search(blob).group(0)}")
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return problems


def main(paths: list[str]) -> int:
    problems = []
    for p in paths:
        problems += clean(Path(p))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
