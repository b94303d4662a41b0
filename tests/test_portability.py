"""Nothing in lorakit or the notebooks assumes a POSIX shell or path: the course runs on Windows too.

Static checks (nothing is run). In ``lorakit/``: no path built by joining with ``/`` in a string
(``Path(root, "data/tiny-lm")``, ``root / "a/b"``, ``open("x/y")``), no path split on ``/``
(``str(path).rsplit("/")``), no hard-coded POSIX locations (``/tmp``, ``/dev/null``, ``~/``), no
POSIX-only calls (``signal.alarm``, ``os.fork``, ``os.getuid``, ``fcntl``, ...), no shell commands
(``shell=True`` or a command given as one string). In the notebooks and solutions: no shell escapes
(``!cmd``, ``%%bash``, ``%sx``, ...), no ``subprocess``/``os.system``, and the same path rules, outside
the Colab/Kaggle Setup cell (which runs only on Linux runtimes). Hub ids (``"owner/name"``) and URLs
are not paths and are allowed.
"""
import ast
import json
import re
from pathlib import Path

import pytest

from lorakit.course.paths import NOTEBOOKS_DIR, REPO_ROOT

POSIX_ONLY_ATTRS = {("signal", "alarm"), ("signal", "SIGALRM"), ("signal", "setitimer"), ("os", "fork"),
                    ("os", "getuid"), ("os", "geteuid"), ("os", "getpgid"), ("os", "killpg"), ("os", "setsid"),
                    ("os", "system")}
POSIX_ONLY_MODULES = {"fcntl", "resource", "pwd", "grp", "termios", "pty"}
POSIX_LOCATIONS = re.compile(r"^(/tmp|/dev/|/usr/|/etc/|/home/|/var/|/opt/|~/)")
SHELL_LINE = re.compile(r"^\s*(!|%%(bash|sh|script|system)\b|%(sx|system|sc)\b)")
PATH_CALLS = {"open", "Path", "PurePath", "join"}       # join: os.path.join


def _is_path_literal(node: ast.AST) -> bool:
    """A string constant that is a '/'-joined relative or absolute path, not a URL or an 'owner/name' id."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    text = node.value
    return "/" in text and "://" not in text and " " not in text and (text.count("/") >= 2 or "." in text.split("/")[-1]
                                                                         or text.startswith(("/", "./", "../")))


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def problems_in(source: str) -> list[str]:
    """POSIX assumptions in Python ``source``, as ``"line N: what"``."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and (node.value.id, node.attr) in POSIX_ONLY_ATTRS:
            found.append(f"line {line}: {node.value.id}.{node.attr} does not exist on Windows")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {line}: import {n} (POSIX only)" for n in names if n.split(".")[0] in POSIX_ONLY_MODULES]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and POSIX_LOCATIONS.match(node.value):
            found.append(f"line {line}: hard-coded POSIX location {node.value!r}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) \
                and isinstance(node.right.value, str) and "/" in node.right.value:
            found.append(f"line {line}: path joined with '/' inside a string ({node.right.value!r}): "
                         "join each part with / instead")
        elif isinstance(node, ast.Call):
            func = _name(node.func)
            if func in PATH_CALLS and any(_is_path_literal(a) for a in node.args):
                found.append(f"line {line}: {func}() of a '/'-joined string: build the path from its parts")
            if func in ("split", "rsplit") and node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value == "/" and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Call) and _name(node.func.value.func) in ("str", "fspath"):
                found.append(f"line {line}: a path split on '/': use Path(...).name / .parts")
            if any(k.arg == "shell" and getattr(k.value, "value", False) is True for k in node.keywords):
                found.append(f"line {line}: shell=True runs a POSIX shell command")
            if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == "subprocess" and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
                found.append(f"line {line}: subprocess given one command string: pass a list of arguments")
    return found


def test_the_checker_finds_each_kind():
    bad = '''
import signal, fcntl, subprocess, os
from pathlib import Path
signal.alarm(3)
p = Path("data/tiny-lm/config.json")
q = ROOT / "data/qa"
name = str(p).rsplit("/", 1)[-1]
subprocess.run("ls -l", shell=True)
open("/tmp/x.txt")
'''
    found = "\n".join(problems_in(bad))
    for what in ("signal.alarm", "import fcntl", "Path() of a", "joined with '/'", "split on '/'", "shell=True",
                 "one command string", "'/tmp/x.txt'"):
        assert what in found, (what, found)
    good = '''
from pathlib import Path
model = "HuggingFaceTB/SmolLM2-135M"; url = "https://github.com/a/b"
p = ROOT / "data" / "tiny-lm"; name = model.split("/")[-1]; q = Path(p).name
'''
    assert problems_in(good) == []


LORAKIT = sorted((REPO_ROOT / "lorakit").rglob("*.py"))


@pytest.mark.parametrize("path", LORAKIT, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_lorakit_assumes_no_posix_shell_or_path(path):
    assert problems_in(path.read_text(encoding="utf-8")) == []


def _code_cells(nb_path: Path):
    cells = [c for c in json.loads(nb_path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        if index == 0 and source.startswith("# Setup"):
            continue        # the Colab/Kaggle Setup cell: git and pip on a Linux runtime only
        yield index, source


NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")) + sorted((NOTEBOOKS_DIR / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_run_no_shell_commands_outside_setup(nb_path):
    found = []
    for index, source in _code_cells(nb_path):
        lines = source.splitlines()
        found += [f"code cell {index}: shell escape {line.strip()!r}" for line in lines if SHELL_LINE.match(line)]
        python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
        found += [f"code cell {index}: {p}" for p in problems_in(python)]
        if re.search(r"\bsubprocess\b|\bos\.system\b|\bos\.popen\b", python):
            found.append(f"code cell {index}: runs a command (subprocess/os.system)")
    assert found == []


def test_the_setup_cell_is_the_only_exception():
    """The exception above is only ever the first code cell, and only when it is the Setup cell."""
    for nb_path in NOTEBOOKS:
        skipped = {i for i, _ in _code_cells(nb_path)}
        cells = [c for c in json.loads(nb_path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
        assert set(range(len(cells))) - skipped <= {0}
