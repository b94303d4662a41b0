#!/usr/bin/env python
"""What a learner with a hub model sees in the cells gated on the shipped model (issue 22).

    python scripts/hub_view.py                          # build/real-check/ (make real-check)
    python scripts/hub_view.py --run build/t4-sim       # the stand-in model of make t4-sim
    python scripts/hub_view.py --only notebooks/02_lora_finetune.ipynb   # one notebook (make real-check NB=...)

A code cell is *gated* when a condition reads whether the model is the shipped one, or whether the
setup matches a shipped table (``if shipped``, ``SHIPPED``, ``same_setup``, ``table_applies``,
``from_sweep``, ``live_sweeps`` ...), or when it calls ``label_shipped_table`` (a table loaded from
``data/results/``, the shipped model's). For each gated cell of each executed notebook in the run folder,
its printed output on that model is sorted into one of:

``labelled``  it prints a table or number and says it is the shipped model's (or the shipped table's);
``skipped``   it says a check or a re-run is skipped, or holds only for the shipped model;
``live``      it prints output that names neither: it ran on the model in hand;
``silent``    it prints nothing: a learner is not told what happened. The course allows none.

Writes ``<run>/gated_cells.json`` (per notebook and cell: the class and the first line that decided
it) and prints a count per notebook. Exits 1 when a gated cell is silent or a notebook is missing.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GATE_NAMES = r"(shipped|SHIPPED|same_setup|same_data|table_applies|from_sweep|live_sweeps?|is_shipped|live_check)"
GATE = re.compile(rf"\b(if|elif)\b.*\b{GATE_NAMES}\b|\b{GATE_NAMES}\b.*\bif\b|\blabel_shipped_table\(")
SKIPPED = re.compile(r"skipped|not re-run|nothing to re-run|is not re-run|only for the shipped|holds only|"
                     r"is for the shipped|are for the shipped|set LIVE_SWEEPS", re.I)
LABELLED = re.compile(r"shipped (tiny )?model|shipped table|the shipped|measured on the shipped", re.I)
CLASSES = ("live", "labelled", "skipped", "silent")


def gated(source: str) -> bool:
    """Whether a code cell's source branches on the shipped model or a shipped table's setup."""
    return any(GATE.search(line.split("#")[0]) for line in source.splitlines())


def printed(cell: dict) -> str:
    """Everything a code cell showed: streams, and the text of results and displays (errors too)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append("".join(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            parts.append("".join(data.get("text/plain", "")) or ("[image]" if any(k.startswith("image/") for k in data) else ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(parts)


def classify(text: str) -> tuple[str, str]:
    """(class, the line that decided it) for a gated cell's printed output."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "silent", ""
    for kind, pattern in (("skipped", SKIPPED), ("labelled", LABELLED)):
        hit = next((line for line in lines if pattern.search(line)), None)
        if hit is not None:
            return kind, hit[:200]
    return "live", lines[0][:200]


def audit_notebook(path: Path) -> list[dict]:
    """One row per gated code cell of an executed notebook: index, class, deciding line."""
    nb = json.loads(path.read_text())
    rows = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and gated("".join(cell["source"])):
            kind, line = classify(printed(cell))
            rows.append({"cell": index, "class": kind, "line": line})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=REPO / "build" / "real-check", help="a run_course.py output folder")
    ap.add_argument("--only", nargs="*", default=None, help="these course notebooks (paths, or file names with .ipynb) instead of every one")
    args = ap.parse_args(argv)
    sources = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        wanted = {Path(n).name for n in args.only}
        sources = [p for p in sources if p.name in wanted]
        if len(sources) != len(wanted):
            ap.error(f"not course notebooks: {sorted(wanted - {p.name for p in sources})}")
    missing = [p.name for p in sources if not (args.run / p.name).exists()]
    report, silent = {}, 0
    for src in sources:
        if src.name in missing:
            continue
        rows = audit_notebook(args.run / src.name)
        report[src.stem] = rows
        counts = {k: sum(r["class"] == k for r in rows) for k in CLASSES}
        silent += counts["silent"]
        print(f"{src.stem:<40} {len(rows):>3} gated: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    out = args.run / "gated_cells.json"
    if args.only and out.exists():                      # keep the other notebooks' rows of an earlier full run
        report = {**json.loads(out.read_text()), **report}
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if missing:
        print(f"not executed in {args.run}: {', '.join(missing)}", file=sys.stderr)
    if silent:
        print(f"{silent} gated cell(s) print nothing on this model: a learner is not told what happened", file=sys.stderr)
    return 1 if missing or silent else 0


if __name__ == "__main__":
    sys.exit(main())
