#!/usr/bin/env python
"""The offline workshop install, for real: wheelhouse -> fresh venv with no index -> lorakit.doctor.

    make offline-install-test          # = python scripts/offline_install_test.py (CI)

1. ``make wheelhouse`` into ``build/offline/wheelhouse`` with this machine's own pip settings (its
   cache, its local index or PyPI): pip, the build backend, the CPU torch build and the dependencies
   of the ``course`` and ``test`` extras (what ``make install`` installs: a learner's laptop needs
   ``course``; ``test`` adds pytest and nbval, seconds). Rebuilt only when pyproject.toml or the
   Makefile changed since the last build, so CI's second run costs nothing here.
2. A fresh venv (``build/offline/venv``, or ``--venv``: CI passes the repository's ``.venv``, so that
   ``make test`` and the rest of CI run in the venv that was installed offline), installed the README's way, ``make install
   WHEELHOUSE=... VENV=...`` (pip from the wheelhouse, then torch, then ``-e ".[course,test]"``), in
   an environment where nothing but the wheelhouse can serve a package: ``PIP_CONFIG_FILE`` set to
   the null device (no pip.conf is read: not /etc/pip.conf, not the user's, not /etc/xdg/pip's
   constraints), every other ``PIP_*`` variable removed (``PIP_FIND_LINKS``, ``PIP_EXTRA_INDEX_URL``,
   ``PIP_CONSTRAINT``, ...), ``PIP_INDEX_URL`` pointed at a closed local port, ``PYTHONPATH`` unset.
   ``PIP_NO_COMPILE=1`` skips compiling .pyc files at install time (CPU time CI does not need).
3. ``python -m lorakit.doctor`` with that venv's Python, from outside the repository: its exit code is
   this script's.

Prints each step's seconds. ``--old-recipe`` builds the wheelhouse as ``make wheelhouse`` did before
it held the build backend (dependencies only), to show the failure this guards against: "No matching
distribution found for setuptools>=77".
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLOSED_INDEX = "http://127.0.0.1:9/simple"     # port 9 (discard): nothing listens, the connection is refused


def offline_env() -> dict[str, str]:
    """This process's environment with every pip setting of the machine out of the way."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_") and k != "PYTHONPATH"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=CLOSED_INDEX, PIP_RETRIES="0", PIP_TIMEOUT="3",
               PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1",
               PIP_NO_COMPILE="1")   # no .pyc at install time: a minute less CPU; Python compiles on import
    return env


def step(name: str, cmd: list[str], **kwargs) -> float:
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, **kwargs)
    seconds = time.perf_counter() - start
    print(f"== {name}: exit {done.returncode} in {seconds:.0f} s", flush=True)
    if done.returncode:
        raise SystemExit(done.returncode)
    return seconds


def fingerprint(extras: str, old: bool) -> str:
    text = (REPO / "pyproject.toml").read_bytes() + (REPO / "Makefile").read_bytes() + f"{extras}{old}".encode()
    return hashlib.sha256(text).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "build" / "offline")
    ap.add_argument("--python", default=sys.executable, help="the Python of the wheelhouse and of the venv")
    ap.add_argument("--extras", default="course,test", help="extras whose dependencies go into the wheelhouse")
    ap.add_argument("--old-recipe", action="store_true", help="the wheelhouse without pip and the build backend")
    ap.add_argument("--venv", type=Path, default=None,
                    help="the venv to create (default OUT/venv); CI passes .venv, so that every later step "
                         "runs in the venv installed offline and the course is installed once")
    args = ap.parse_args(argv)
    make = shutil.which("make")
    if make is None:
        raise SystemExit("this check drives the Makefile: it needs make (Linux/macOS, as in CI)")
    wheelhouse, venv = args.out / "wheelhouse", (args.venv or args.out / "venv").resolve()
    total, stamp = time.perf_counter(), wheelhouse / ".built-from"
    key = fingerprint(args.extras, args.old_recipe)
    if not (stamp.is_file() and stamp.read_text() == key):
        shutil.rmtree(wheelhouse, ignore_errors=True)
        if args.old_recipe:   # what `make wheelhouse` did before: the dependencies, no pip, no build backend
            step("wheelhouse (old recipe)", [args.python, "-m", "pip", "wheel", "-q", "-w", str(wheelhouse),
                                             "torch==2.13.0", f".[{args.extras}]"], cwd=REPO)
        else:
            step("wheelhouse", [make, "-s", "wheelhouse", f"PYTHON={args.python}", f"WHEELHOUSE_DIR={wheelhouse}",
                                f"WHEELHOUSE_EXTRAS={args.extras}"], cwd=REPO)
        stamp.write_text(key)
    else:
        print(f"== wheelhouse: {wheelhouse} is up to date ({len(list(wheelhouse.glob('*.whl')))} wheels)")
    shutil.rmtree(venv, ignore_errors=True)
    env = offline_env()
    step("fresh venv", [args.python, "-m", "venv", str(venv)], env=env)
    step("install from the wheelhouse, index unreachable",
         [make, "-s", "install", f"VENV={venv}", f"WHEELHOUSE={wheelhouse}"], cwd=REPO, env=env)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    with tempfile.TemporaryDirectory() as outside:   # not the repository: the venv's lorakit is imported
        step("lorakit.doctor in the fresh venv", [str(python), "-m", "lorakit.doctor"], cwd=outside, env=env)
    print(f"offline install check passed in {time.perf_counter() - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
