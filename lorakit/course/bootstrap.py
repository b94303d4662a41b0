"""What the notebooks' Setup cell runs on Colab and Kaggle, after cloning: install only what is missing.

Standard library only: it runs before any dependency is known to be there. The Setup cell (written
by ``scripts/set_course_repo.py``) clones the course, puts the clone on ``sys.path`` and calls
:func:`install_missing`, which compares ``[project.dependencies]`` in ``pyproject.toml`` with what is
installed and asks pip for the rest:

* a package that is missing, or older than the minimum, is installed with pyproject's specifier
  (``"transformers>=5.0,<6"``), so pip picks the newest allowed version;
* a package newer than the course's upper bound is kept (one line says so), never downgraded;
* torch (and torchvision/torchaudio) are never installed, upgraded or replaced: they are pinned to
  the platform's versions in a pip constraints file, so pip fails rather than swap the CUDA build;
* nothing else is upgraded unless a package being installed requires it (pip's default
  ``only-if-needed`` strategy). On a fresh Colab runtime that means crossing a major version only
  where lorakit needs it: transformers 4 → 5 (and what transformers 5 itself requires, such as a newer
  huggingface_hub: 2.x for transformers 5.25, which needs >= 2.4), and datasets where TRL asks for a newer one (TRL 1.16 needs >= 4.7; pyproject
  sets no upper bound, so pip takes the newest release, datasets 5 today).

Run twice, it installs nothing the second time. Locally (``make lab``) the Setup cell never calls it.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import subprocess
import sys
import tempfile
from pathlib import Path

from lorakit.course.paths import REPO_ROOT

NEVER_TOUCH = ("torch", "torchvision", "torchaudio")   # the platform's CUDA build stays


class SetupError(Exception):
    """A setup failure shown in Jupyter as its one-line message, without a traceback."""

    def _render_traceback_(self) -> list[str]:   # IPython's hook: these lines replace the traceback
        return [str(self)]


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:   # Python 3.10: pip vendors the same parser
        from pip._vendor import tomli as tomllib
    return tomllib


def _packaging():
    try:
        from packaging.requirements import Requirement
        from packaging.version import Version
    except ModuleNotFoundError:   # pip vendors packaging too
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.version import Version
    return Requirement, Version


def project_table(pyproject: Path = REPO_ROOT / "pyproject.toml") -> dict:
    """The ``[project]`` table of ``pyproject`` (dependencies, optional-dependencies, requires-python)."""
    return _tomllib().loads(Path(pyproject).read_text(encoding="utf-8"))["project"]


def requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """``[project.dependencies]`` of ``pyproject``, e.g. ``["torch", "transformers>=5.0,<6", ...]``."""
    return list(project_table(pyproject)["dependencies"])


def plan(reqs: list[str]) -> tuple[list[str], list[str]]:
    """Split ``reqs`` into (to install, notes): missing or too old -> install; too new -> a note.

    ``torch`` and the other :data:`NEVER_TOUCH` packages are left out of both, installed or not.
    """
    Requirement, Version = _packaging()
    install, notes = [], []
    for text in reqs:
        req = Requirement(text)
        if req.name.lower() in NEVER_TOUCH:
            continue
        try:
            installed = Version(md.version(req.name))
        except md.PackageNotFoundError:
            install.append(text)
            continue
        if req.specifier.contains(installed, prereleases=True):
            continue
        lower = [s for s in req.specifier if s.operator in (">=", ">", "==", "~=")]
        if any(not s.contains(installed, prereleases=True) for s in lower):
            install.append(text)            # older than the minimum
        else:
            notes.append(f"{req.name} {installed} is newer than the course was tested with ({req.specifier}); keeping it")
    return install, notes


def _constraints() -> str:
    """A pip constraints file pinning the installed torch family to its version."""
    pins = []
    for name in NEVER_TOUCH:
        try:
            pins.append(f"{name}=={md.version(name)}")
        except md.PackageNotFoundError:
            pass
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="lorakit-constraints-", delete=False) as f:
        f.write("\n".join(pins) + "\n")
    return f.name


def install_missing(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """Install what :func:`plan` says is missing or too old; print one line; return what was asked for.

    Raises :class:`SetupError` with one line (what failed, what to do) if pip fails, so "Run all" stops.
    """
    install, notes = plan(requirements(pyproject))
    for note in notes:
        print(note)
    if install:
        cmd = [sys.executable, "-m", "pip", "install", "-q", *install, "-c", _constraints()]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SetupError(f"pip could not install {', '.join(install)} ({last}); "
                             "check the runtime has Internet access, then run this cell again.")
        importlib.invalidate_caches()   # the new packages are importable in this same kernel
    print(f"lorakit ready ({REPO_ROOT}); installed: {', '.join(install) if install else 'nothing, all present'}")
    return install
