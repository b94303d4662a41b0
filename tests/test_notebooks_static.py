"""Every notebook follows the conventions in notebooks/README.md (checked without running it)."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
ALL = NOTEBOOKS + SOLUTIONS
TOKEN = re.compile(r"hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9]{20,}|ghp_[A-Za-z0-9]{20,}")
LOCAL_PATH = re.compile(r"(/work/|/root/|/home/[^/\s\"]+/|/Users/[^/\s\"]+/|[A-Z]:\\\\Users)")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    assert (ROOT / "notebooks" / "00_start_here.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_title_cell(path):
    first = _load(path)["cells"][0]
    assert first["cell_type"] == "markdown" and _source(first).startswith("# "), "first cell must be a markdown title"
    text = _source(first)
    assert "You will learn" in text, "the title cell lists what the learner will learn"
    assert "Timed on" in text or "timed on" in text, "the title cell names the hardware it was timed on"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_setup_parameters_and_version_cells(path):
    cells = _code_cells(_load(path))
    assert _source(cells[0]).startswith("# Setup"), "first code cell must be the '# Setup' cell"
    assert "google.colab" in _source(cells[0]) and "KAGGLE_KERNEL_RUN_TYPE" in _source(cells[0])
    assert "pip" in _source(cells[0]) and "install" in _source(cells[0])
    assert not re.search(r"pip[^\n]*install[^\n]*\btorch\b", _source(cells[0])), "the setup cell must not touch torch"
    if path in NOTEBOOKS:
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
        versions = [c for c in cells if _source(c).startswith("# NBVAL_SKIP") and "print_versions" in _source(c)]
        assert versions, "a version cell starting with '# NBVAL_SKIP' that calls lorakit.env.print_versions()"
        assert any(_source(c).startswith("# NBVAL_CHECK_OUTPUT") for c in cells), \
            "at least one deterministic cell marked '# NBVAL_CHECK_OUTPUT'"
        assert any(f'results.start("{path.stem}")' in _source(c) for c in cells), \
            f'call lorakit.results.start("{path.stem}") so results land in the right file'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_exercises_have_checkers_and_solutions(path):
    cells = _code_cells(_load(path))
    stubs = [c for c in cells if "raises-exception" in c.get("metadata", {}).get("tags", [])]
    if path.stem == "00_start_here":
        return
    assert len(stubs) >= 2, "at least two exercises (cells tagged 'raises-exception')"
    for c in stubs:
        assert "NotImplementedError" in _source(c), "an exercise stub raises NotImplementedError"
        assert "lorakit.exercises" in _source(c) or "check_" in _source(c), "an exercise calls its checker"
    number = path.stem[:2]
    assert list((ROOT / "notebooks" / "solutions").glob(f"{number}_*_solutions.ipynb")), \
        f"notebooks/solutions/{number}_<topic>_solutions.ipynb is missing"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_no_remote_code_no_tokens(path):
    text = path.read_text()
    assert "trust_remote_code" + "=True" not in text  # split so this file does not match itself
    assert not TOKEN.search(text), "a notebook must never hold a token"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_committed_with_outputs_and_no_local_paths(path):
    nb = _load(path)
    cells = _code_cells(nb)
    assert any(c.get("outputs") for c in cells), "commit notebooks executed, with their outputs"
    counts = [c.get("execution_count") for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "run scripts/clean_notebooks.py (execution counts 1..n)"
    for i, c in enumerate(cells):
        blob = json.dumps(c.get("outputs", []))
        blob = re.sub(r'"image/png": "[^"]*"', "", blob)
        match = LOCAL_PATH.search(blob)
        assert not match, f"code cell {i} output holds a local path {match.group(0)!r}"
