#!/usr/bin/env python
"""Write the course's GitHub location into every badge and every notebook's Setup cell.

    python scripts/set_course_repo.py                        # re-render from pyproject.toml
    python scripts/set_course_repo.py OWNER/NAME [--branch B] # move the course, then re-render

``[tool.lorakit]`` in ``pyproject.toml`` (``repo``, ``branch``) is the one place that says where the
course lives. This script is the one owner of the Setup cell's text (:data:`SETUP_TEMPLATE`): it
replaces the first code cell of every ``notebooks/NN_*.ipynb`` and ``notebooks/solutions/*.ipynb``
with the template, and rewrites the "open" column of README.md's notebook table (a Colab and a Kaggle
badge for the notebook the row links to). Run it after adding a notebook or a README row.
``tests/test_setup_cell.py`` checks that badges, Setup cells and pyproject agree.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from pathlib import Path

from lorakit.course.paths import NOTEBOOKS_DIR, REPO_ROOT

PYPROJECT = REPO_ROOT / "pyproject.toml"
README = REPO_ROOT / "README.md"
SETUP_ENV = "LORAKIT_SETUP"        # "1": run the Colab/Kaggle branch anywhere (tests/test_setup_cell.py)
REPO_URL_ENV = "LORAKIT_REPO_URL"  # clone from here instead (e.g. a file:// repository)
CLONE_DIR = "lorakit-course"

SETUP_TEMPLATE = '''\
# Setup: on Colab or Kaggle, clone the course and install only what is missing (never torch); on
# your own machine this does nothing. Running it again changes nothing. It may upgrade transformers
# 4 -> 5 and datasets to its newest release (TRL 1.x needs a recent one), with what those require.
# Written by scripts/set_course_repo.py from pyproject.toml: edit the template there, not here.
import os, sys
if "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ or os.environ.get("{setup_env}") == "1":
    import importlib, subprocess
    url = os.environ.get("{url_env}", "https://github.com/{repo}")
    course = os.path.abspath("{clone_dir}")   # absolute: a second run finds the same clone
    if not os.path.isdir(os.path.join(course, "lorakit")):
        git = subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "{branch}", url, course],
                             capture_output=True, text=True)
        if git.returncode:
            class SetupError(Exception):   # Jupyter shows only this one line, and "Run all" stops
                _render_traceback_ = lambda self: [str(self)]
            reason = git.stderr.strip().split("\\n")[-1]
            raise SetupError(f"Could not clone {{url}} ({{reason}}); on Kaggle turn Internet on (Settings), "
                             "then run this cell again.")
    if course not in sys.path:
        sys.path.insert(0, course)            # lorakit importable in this kernel, no restart
        importlib.invalidate_caches()
    from lorakit.course.bootstrap import install_missing   # standard library only
    install_missing()'''

COLAB = "https://colab.research.google.com/assets/colab-badge.svg"
KAGGLE = "https://kaggle.com/static/images/open-in-kaggle.svg"
ROW_LINK = re.compile(r"\]\((notebooks/[0-9][0-9]_[^)]+\.ipynb)\)")


def course_location(pyproject: Path | None = None) -> tuple[str, str]:
    """(repo, branch) from ``[tool.lorakit]``, e.g. ``("lorakit-course/lorakit", "main")``."""
    table = tomllib.loads((pyproject or PYPROJECT).read_text())["tool"]["lorakit"]
    return table["repo"], table["branch"]


def setup_cell(repo: str, branch: str) -> str:
    """The Setup cell's source for the course at ``github.com/<repo>``, branch ``branch``."""
    return SETUP_TEMPLATE.format(repo=repo, branch=branch, setup_env=SETUP_ENV, url_env=REPO_URL_ENV,
                                 clone_dir=CLONE_DIR)


def badges(repo: str, branch: str, notebook: str) -> str:
    """Open-in-Colab and open-in-Kaggle badges for ``notebook`` (a path from the repository root)."""
    blob = f"{repo}/blob/{branch}/{notebook}"
    return (f"[![Open in Colab]({COLAB})](https://colab.research.google.com/github/{blob}) "
            f"[![Open in Kaggle]({KAGGLE})](https://kaggle.com/kernels/welcome?src=https://github.com/{blob})")


def course_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")) + sorted((NOTEBOOKS_DIR / "solutions").glob("*.ipynb"))


def _write_if_changed(path: Path, old: str, new: str) -> bool:
    """Write ``new`` to ``path`` unless it equals ``old`` (the file's text); return whether it changed."""
    if new != old:
        path.write_text(new)
    return new != old


def render_notebook(path: Path, source: str) -> bool:
    """Make the first code cell of ``path`` the Setup cell; return whether the file changed."""
    text = path.read_text()
    nb = json.loads(text)
    first = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    if first is None or not "".join(first["source"]).startswith("# Setup"):
        raise ValueError(f"{path}: the first code cell must be the Setup cell (starting '# Setup')")
    first["source"] = source.splitlines(keepends=True)
    return _write_if_changed(path, text, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def render_readme(repo: str, branch: str, readme: Path | None = None) -> bool:
    """Rewrite the last column of every README table row that links a notebook; return whether it changed."""
    readme = readme or README
    text = readme.read_text()
    lines = []
    for line in text.splitlines(keepends=True):
        link = ROW_LINK.search(line)
        if line.startswith("|") and link:
            cells = line.rstrip("\n").rstrip("|").split(" | ")
            cells[-1] = badges(repo, branch, link.group(1)) + " "
            line = " | ".join(cells) + "|\n"
        lines.append(line)
    return _write_if_changed(readme, text, "".join(lines))


def set_location(repo: str, branch: str, pyproject: Path | None = None) -> None:
    """Write ``repo`` and ``branch`` into ``[tool.lorakit]`` (the rest of the file is kept as is)."""
    pyproject = pyproject or PYPROJECT
    text = pyproject.read_text()
    section = text.index("[tool.lorakit]")
    head, tail = text[:section], text[section:]
    tail = re.sub(r'(?m)^repo = ".*"$', f'repo = "{repo}"', tail, count=1)
    tail = re.sub(r'(?m)^branch = ".*"$', f'branch = "{branch}"', tail, count=1)
    pyproject.write_text(head + tail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", nargs="?", help="OWNER/NAME on GitHub (default: keep pyproject's)")
    ap.add_argument("--branch", help="the branch the Setup cell clones (default: keep pyproject's)")
    args = ap.parse_args(argv)
    repo, branch = course_location()
    if args.repo or args.branch:
        if args.repo and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", args.repo):
            ap.error(f"expected OWNER/NAME, got {args.repo!r}")
        set_location(args.repo or repo, args.branch or branch)
        repo, branch = course_location()
    source = setup_cell(repo, branch)
    changed = [p for p in course_notebooks() if render_notebook(p, source)]
    if render_readme(repo, branch):
        changed.append(README)
    print(f"course at github.com/{repo} (branch {branch}); rewrote {len(changed)} file(s)")
    for path in changed:
        print(f"  {os.path.relpath(path, REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
