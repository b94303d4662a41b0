#!/usr/bin/env python
"""Execute every course notebook headless, write them and their HTML to build/course/, print a summary.

    python scripts/run_course.py                    # all of notebooks/NN_*.ipynb, in order
    python scripts/run_course.py --solutions        # ... then notebooks/solutions/*.ipynb
    python scripts/run_course.py --only notebooks/00_start_here.ipynb

``make t4-sim`` runs it with ``--solutions --out build/t4-sim`` and the environment of the T4 path
(``LORAKIT_MODEL_ID``, ``LORAKIT_DTYPE=float16``, ``LORAKIT_PRESET=sim``); CI's GPU job runs it on a
real GPU with a hub model. Both execute every cell and compare no outputs.

Each notebook runs in its own kernel from the ``notebooks/`` folder. It names itself with
``lorakit.course.results.start("<its stem>")`` and records its headline numbers; this script points
``$LORAKIT_RESULTS_DIR`` at ``build/results/`` and reads them back with ``lorakit.course.results.load``.
Exercise stubs return ``None`` and their checkers print "not done yet" (they never raise), so every
cell must run: any error fails the notebook. Exits non-zero if a notebook failed.

``build/course/summary.json`` (status, seconds, results per notebook) is the one source of the
per-notebook times quoted in README.md (``scripts/course_times.py`` writes that table's column).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from lorakit.course import results
from lorakit.course.paths import BUILD_DIR, NOTEBOOKS_DIR


def run_notebook(path: Path, out_dir: Path, timeout: int) -> tuple[str, float, str]:
    nb = nbformat.read(path, as_version=4)
    results.clear(path.stem)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    status, error = "ok", ""
    try:
        client.execute()
    except Exception as err:  # a failing cell: keep what ran, report the error
        status, error = "FAILED", f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:200]}"
    seconds = time.perf_counter() - start
    nbformat.write(nb, out_dir / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out_dir / f"{path.stem}.html").write_text(html)
    return status, seconds, error


def headline(results: dict, width: int = 100) -> str:
    parts = []
    for key, value in results.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, dict):
            value = "{" + ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
                                    for k, v in value.items()) + "}"
        parts.append(f"{key}={value}")
    text = "; ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="notebook paths (default: every notebooks/NN_*.ipynb)")
    ap.add_argument("--out", default=str(BUILD_DIR / "course"))
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    ap.add_argument("--solutions", action="store_true", help="also run notebooks/solutions/*.ipynb")
    ap.add_argument("--jobs", type=int, default=1,
                    help="notebooks run at once, each kernel on one torch thread (>1: the per-notebook seconds "
                         "are not the README's times, which `make course` measures with one job)")
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")

    notebooks = [Path(p).resolve() for p in args.only] if args.only else sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if args.solutions:
        notebooks += sorted((NOTEBOOKS_DIR / "solutions").glob("*.ipynb"))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the kernels inherit this, so the notebooks' record() and our load() use the same folder
    os.environ.setdefault(results.RESULTS_ENV, str(BUILD_DIR / "results"))
    results.results_dir().mkdir(parents=True, exist_ok=True)

    rows, summary = [], {}
    if args.jobs > 1:   # the kernels inherit it: two one-thread kernels beat one two-thread kernel here
        os.environ["OMP_NUM_THREADS"] = "1"
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = [(path, pool.submit(run_notebook, path, out_dir, args.timeout)) for path in notebooks]
        for path, run in runs:
            status, seconds, error = run.result()
            print(f"{path.name}: {status} in {seconds:.1f} s", flush=True)
            recorded = results.load(path.stem)
            summary[path.stem] = {"status": status, "seconds": round(seconds, 1), "error": error,
                                  "results": recorded}
            rows.append((path.stem, status, seconds, error or headline(recorded)))
            # after every notebook, so a long run stopped midway keeps what it measured
            (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    name_w = max([len(r[0]) for r in rows] + [8])
    print()
    print(f"{'notebook':<{name_w}}  {'status':<6}  {'seconds':>7}  headline results")
    print(f"{'-' * name_w}  {'-' * 6}  {'-' * 7}  {'-' * 40}")
    for name, status, seconds, text in rows:
        print(f"{name:<{name_w}}  {status:<6}  {seconds:7.1f}  {text}")
    print(f"{'total':<{name_w}}  {'':<6}  {sum(r[2] for r in rows):7.1f}")
    print(f"\nexecuted notebooks and HTML in {os.path.relpath(out_dir, Path.cwd())}/, "
          f"summary in {os.path.relpath(out_dir / 'summary.json', Path.cwd())}")
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
