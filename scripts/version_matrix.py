#!/usr/bin/env python
"""Install the oldest (or newest) library versions pyproject.toml allows in a fresh venv and test them.

    python scripts/version_matrix.py oldest     # make min-versions: exactly the lower bounds
    python scripts/version_matrix.py newest     # the newest releases within the bounds
    python scripts/version_matrix.py latest     # the newest releases, upper bounds lifted (API drift warning)
    python scripts/version_matrix.py oldest --install-only

The Setup cell keeps what a runtime (Colab, Kaggle) already has when it lies within the course's
bounds, so the lowest versions ``pyproject.toml`` allows must work together. ``oldest`` pins every
``name>=X`` of ``[project] dependencies`` to ``name==X`` (torch stays ``$TORCH_SPEC``, default the
CPU build ``torch==2.13.0``), lets uv resolve everything else (extras ``course`` and ``test`` at
their newest), installs lorakit editable, then runs the unit tests and every notebook under nbval.
If the pins cannot be installed together, uv's message names the conflict: raise that bound.

The venv is ``build/versions-<mode>/venv``; the pins, ``pip freeze`` and the test log go next to it.
Exits with the tests' status.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODES = ("oldest", "newest", "latest")
REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*)$")


def dependencies(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """``[project] dependencies`` of ``pyproject``, comments stripped."""
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def pins(deps: list[str], mode: str, torch_spec: str = "torch==2.13.0") -> list[str]:
    """The requirement lines for ``mode`` (see the module docstring); torch always ``torch_spec``.

    ``oldest``: ``name==lower`` for each dependency with a ``>=`` bound (one without keeps its spec);
    ``newest``: the specs as written; ``latest``: the lower bounds only, upper bounds dropped.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    out = []
    for dep in deps:
        m = REQ.match(dep)
        if not m:
            raise ValueError(f"cannot parse requirement {dep!r}")
        name, extras, spec = m.group(1), m.group(2) or "", m.group(3).strip()
        if name.lower() == "torch":
            out.append(torch_spec)
            continue
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        lower = [p[2:].strip() for p in parts if p.startswith(">=")]
        if mode == "oldest" and lower:
            out.append(f"{name}{extras}=={lower[0]}")
        elif mode == "latest":
            out.append(f"{name}{extras}" + (f">={lower[0]}" if lower else ""))
        else:
            out.append(dep)
    return out


def run(cmd: list[str], **kwargs) -> int:
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, **kwargs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("--out", type=Path, help="default build/versions-<mode>")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the venv")
    ap.add_argument("--install-only", action="store_true")
    ap.add_argument("--tests", nargs="*", help="pytest arguments (default: tests, then every notebook under nbval)")
    args = ap.parse_args(argv)
    out = (args.out or REPO / "build" / f"versions-{args.mode}").resolve()
    venv = out / "venv"
    py = venv / "bin" / "python"
    torch_spec = os.environ.get("TORCH_SPEC", "torch==2.13.0")
    torch_args = os.environ.get("TORCH_PIP_ARGS", "").split()
    out.mkdir(parents=True, exist_ok=True)
    if not py.exists():
        if run([args.python, "-m", "venv", str(venv)]):
            return 1
    requirements = pins(dependencies(), args.mode, torch_spec)
    (out / "requirements.txt").write_text("\n".join(requirements) + "\n")
    print(f"{args.mode}: " + ", ".join(requirements), flush=True)
    # torch first (the CPU build: a plain resolve would pull a CUDA build of several GB), then uv resolves the rest
    if run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip", "uv"]) or \
            run([str(py), "-m", "pip", "install", "-q", torch_spec, *torch_args]):
        return 1
    uv = [str(venv / "bin" / "uv"), "pip", "install", "--python", str(py)]
    if args.mode != "oldest":
        uv.append("--upgrade")
    # the installed torch satisfies its pin; uv only reads its metadata
    if run(uv + ["-r", str(out / "requirements.txt"), "-e", f"{REPO}[course,test]"]):
        print(f"{args.mode}: these pins cannot be installed together (uv's message above names the conflict); "
              "raise the bound it names in pyproject.toml", flush=True)
        return 1
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    (out / "freeze.txt").write_text(freeze)
    if args.install_only:
        return 0
    notebooks = sorted(str(p) for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    notebooks += sorted(str(p) for p in (REPO / "notebooks" / "solutions").glob("*.ipynb"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LORAKIT_MODEL_ID", "LORAKIT_PRESET",
                                                             "LORAKIT_DTYPE", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
               LORAKIT_RESULTS_DIR=str(out / "results"))
    tests = args.tests if args.tests is not None else ["tests", *notebooks, "--nbval-lax", "--nbval-current-env"]
    return run([str(py), "-m", "pytest", *tests, "-p", "no:cacheprovider", "-q"], cwd=REPO, env=env)


if __name__ == "__main__":
    sys.exit(main())
