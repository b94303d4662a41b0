#!/usr/bin/env python
"""Collect into one folder the wheels ``make gpu-check`` needs on a GPU machine with no package index.

    python scripts/gpu_wheels.py                        # make gpu-wheels: build/gpu-wheels/, Python 3.12
    python scripts/gpu_wheels.py --python-version 3.11 --out build/gpu-wheels-311

Such a machine (a cloud image, this project's lent GPU) has PyTorch and transformers and the usual
scientific stack, but not the course's other libraries. This script walks the requirements of what
the check needs (``scripts/gpu_check.py``'s ``NEEDS``) in *this* environment's installed metadata,
drops everything a "torch + transformers" install already brings (the dependency closure of
torch and transformers) and the heavy binaries every GPU image ships (:data:`ASSUMED`: numpy,
scipy, pandas, pyarrow, matplotlib and theirs; together over 100 MB), and downloads the rest as
manylinux x86_64 wheels for the target Python with ``pip download --no-deps``, each at the version
installed here (a set known to work together), less :data:`OPTIONAL`. bitsandbytes 0.50.2's wheel is
about 43 MB; the folder must stay under 52 MiB (``--limit-mib``) so that it and the repository's
tracked files (about 11 MB) travel together in one 64 MiB working tree to a lent GPU machine.

On the GPU machine: ``python scripts/gpu_check.py --wheels build/gpu-wheels`` installs from it with
``pip --no-index --no-deps``, then checks that every needed module imports.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from gpu_check import NEEDS  # noqa: E402

BASE = ["torch", "transformers"]
# heavy binaries every GPU image we know ships (Colab, Kaggle, NGC PyTorch, this project's lent machine)
ASSUMED = ["numpy", "scipy", "pandas", "pyarrow", "matplotlib", "pillow", "pytest", "setuptools", "pip"]
# older releases, still within what their dependents require, that keep the folder under the limit:
# jedi 0.20's wheel is 4.7 MB (0.19.2: 1.6 MB), wcwidth 0.9's is a binary of 0.8 MB (0.2.13: pure, 34 kB)
SMALLER = {"wcwidth": "0.2.13"}
# required by their dependents' metadata but optional at run time (imported in a try): ipykernel runs
# without debugpy (no debugger), IPython without jedi (no completion), ipywidgets' kernel side
# without widgetsnbextension (the classic Notebook's front-end files). 9 MB together; the check installs
# the folder with --no-deps, so their absence stops nothing.
OPTIONAL = {"debugpy", "jedi", "parso", "widgetsnbextension"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def closure(names: list[str], marker_env: dict, extras_of: dict[str, set[str]] | None = None) -> set[str]:
    """Canonical names of ``names`` and every installed requirement they pull in, markers evaluated."""
    seen: set[str] = set()
    todo = [(canonicalize_name(Requirement(n).name), set(Requirement(n).extras)) for n in names]
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is not None:
                ok = any(req.marker.evaluate(dict(marker_env, extra=e)) for e in (extras or {""}))
                if not ok:
                    continue
            todo.append((canonicalize_name(req.name), set(req.extras)))
    return seen


def plan(python_version: str = "3.12") -> tuple[list[str], list[str]]:
    """(``name==version`` to download, names left to the image) for ``python_version`` on Linux x86_64."""
    major_minor = ".".join(python_version.split(".")[:2])
    full = python_version if python_version.count(".") == 2 else f"{python_version}.0"
    env = dict(default_environment(), python_version=major_minor, python_full_version=full,
               sys_platform="linux", platform_system="Linux", platform_machine="x86_64", os_name="posix",
               implementation_name="cpython", platform_python_implementation="CPython")
    base = closure(BASE, env) | closure(ASSUMED, env)
    needed = closure(NEEDS, env) - base - OPTIONAL
    exact = {canonicalize_name(Requirement(n).name): str(Requirement(n).specifier)[2:]
             for n in NEEDS if str(Requirement(n).specifier).startswith("==")}   # bitsandbytes==0.50.2
    pins, missing = [], []
    for name in sorted(needed):
        try:
            pins.append(f"{name}=={exact.get(name) or SMALLER.get(name) or md.version(name)}")
        except md.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise RuntimeError(f"not installed here, so no version to pin: {missing}")
    return pins, sorted(base)


def download(pins: list[str], out: Path, python_version: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    platform_args = [a for p in PLATFORMS for a in ("--platform", p)]
    for pin in pins:
        name = re.split("==", pin)[0]
        have = [w for w in out.glob("*.whl") if canonicalize_name(w.name.split("-")[0]) == name
                and w.name.split("-")[1] == pin.split("==")[1]]
        if have:
            continue
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(out),
               "--python-version", python_version, "--implementation", "cp", *platform_args,
               "--disable-pip-version-check", pin]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"pip download {pin} failed: {proc.stderr.strip().splitlines()[-1:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "build" / "gpu-wheels")
    ap.add_argument("--python-version", default="3.12", help="the GPU machine's Python, e.g. 3.12 or 3.11.7 (pip reads 3.11 as 3.11.0)")
    ap.add_argument("--limit-mib", type=float, default=52.0)
    ap.add_argument("--dry-run", action="store_true", help="print the plan, download nothing")
    args = ap.parse_args(argv)
    pins, base = plan(args.python_version)
    print(f"{len(pins)} wheels to collect (the image is expected to have {len(base)} packages: "
          f"{', '.join(BASE + ASSUMED)} and their dependencies)")
    print("  " + " ".join(pins))
    if args.dry_run:
        return 0
    try:
        download(pins, args.out, args.python_version)
    except RuntimeError as err:
        print(f"make gpu-wheels: {err}", file=sys.stderr)
        return 1
    wanted = {p.split("==")[0] for p in pins}
    for stale in args.out.glob("*.whl"):   # a wheel of an older plan would stop the install (two versions)
        name, version = canonicalize_name(stale.name.split("-")[0]), stale.name.split("-")[1]
        if name not in wanted or f"{name}=={version}" not in pins:
            stale.unlink()
    size = sum(w.stat().st_size for w in args.out.glob("*.whl")) / 2**20
    print(f"{len(list(args.out.glob('*.whl')))} wheels, {size:.1f} MiB ({size * 2**20 / 1e6:.1f} MB) in {args.out}")
    if size > args.limit_mib:
        print(f"make gpu-wheels: {size:.1f} MiB is over the {args.limit_mib:.0f} MiB limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
