"""Every repository path a docstring of lorakit/ or scripts/ cites exists in the repository.

Paths are read from module, class and function docstrings: words that start with one of the
repository's top-level folders (``lorakit/``, ``scripts/``, ``data/``, ...). Placeholders (``<task>``,
``{name}``, ``*``) stand for any one file and are checked as a pattern.
"""
import ast
import re
from pathlib import Path

import pytest

from lorakit.course.paths import REPO_ROOT

FOLDERS = ("lorakit", "scripts", "tests", "data", "notebooks", "configs", "benchmarks", "docs", "website", "build")
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(FOLDERS) + r")/[\w./<>{}*-]*[\w>}*/])")
GENERATED = ("build/",)   # written by running the course, not shipped
# shipped once their producer has run on hardware this machine lacks (each named with its producer)
NOT_YET: set[str] = set()   # paths a producer has not written yet (none today)


def docstring_paths(source: str) -> list[str]:
    """The repository paths cited in the docstrings of one Python file."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node) or ""
            found += PATH.findall(doc)
    return found


def exists(path: str) -> bool:
    pattern = re.sub(r"<[^>]*>|\{[^}]*\}|\bNN(?=_)", "*", path.rstrip("/"))
    return any(REPO_ROOT.glob(pattern)) if "*" in pattern else (REPO_ROOT / pattern).exists()


FILES = sorted((REPO_ROOT / "lorakit").rglob("*.py")) + sorted((REPO_ROOT / "scripts").rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_cited_paths_exist(path):
    cited = [p for p in docstring_paths(path.read_text()) if not p.startswith(GENERATED) and p not in NOT_YET]
    missing = [p for p in cited if not exists(p)]
    assert not missing, f"{path.relative_to(REPO_ROOT)} cites paths that are not in the repository: {missing}"


def test_the_check_sees_a_missing_path():
    source = '"""Made by ``scripts/no_such_script.py`` from ``data/qa/train.jsonl``."""\n'
    assert docstring_paths(source) == ["scripts/no_such_script.py", "data/qa/train.jsonl"]
    assert not exists("scripts/no_such_script.py") and exists("data/qa/train.jsonl")
    assert exists("data/adapters/<task>") and exists("notebooks/NN_*.ipynb")
