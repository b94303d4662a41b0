"""The notebooks' Setup cell, run as a new Colab user runs it: in a fresh Jupyter kernel, in an empty folder.

``LORAKIT_SETUP=1`` forces the cell's Colab/Kaggle branch on, and ``LORAKIT_REPO_URL`` points its
clone at a ``file://`` repository whose ``main`` is the commit checked out here (a clone only sees
committed files: commit before trusting this test). The cell must clone, make ``lorakit`` importable
in the same kernel (the shipped model then loads there), install nothing that is already present, and
change nothing when run a second time; a failed clone must end in one line saying what to do.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_start_here.ipynb"

REPORT = """
import json, sys, lorakit
course = __import__("os").path.abspath("lorakit-course")
print(json.dumps({"file": lorakit.__file__, "on_path": sys.path.count(course)}))
"""
LOAD = """
from lorakit.models.loading import load
model, tokenizer, model_id = load()
print(type(model).__name__, sum(p.numel() for p in model.parameters()), model_id)
"""


def setup_source() -> str:
    cell = next(c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code")
    return "".join(cell["source"])


def origin_at_head(tmp_path: Path) -> str:
    """A bare repository whose ``main`` is this checkout's HEAD (one commit deep)."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "-C", str(origin), "fetch", "-q", "--depth", "1", f"file://{ROOT}", "HEAD:refs/heads/main"],
                   check=True)
    subprocess.run(["git", "-C", str(origin), "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    return f"file://{origin}"


def run_cells(sources: list[str], cwd: Path, url: str) -> list[list[dict]]:
    """Execute ``sources`` in one fresh kernel started in ``cwd``; the outputs of each cell."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LORAKIT_MODEL_ID", "LORAKIT_DTYPE", "LORAKIT_PRESET")}
    env.update(LORAKIT_SETUP="1", LORAKIT_REPO_URL=url, HF_HUB_OFFLINE="1")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    return [cell.outputs for cell in nb.cells]


def text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")


def errors(outputs: list[dict]) -> list[dict]:
    return [o for o in outputs if o["output_type"] == "error"]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".git" not in p.parts)


@pytest.mark.slow
def test_setup_cell_clones_imports_loads_and_is_idempotent(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    url = origin_at_head(tmp_path)
    setup = setup_source()
    first, report, loaded, again, report_again = run_cells([setup, REPORT, LOAD, setup, REPORT], work, url)
    for outputs in (first, report, loaded, again, report_again):
        assert not errors(outputs), errors(outputs)
    course = work / "lorakit-course"
    assert "lorakit ready" in text(first) and "installed: nothing" in text(first), text(first)
    state = json.loads(text(report))
    assert Path(state["file"]).resolve() == (course / "lorakit" / "__init__.py").resolve(), \
        "lorakit must be imported from the fresh clone, in the same kernel"
    assert state["on_path"] == 1
    assert text(loaded).startswith("model: the shipped tiny model") and "LlamaForCausalLM" in text(loaded)
    # the second run changes nothing: same report, no nested clone, the clone on sys.path once
    assert text(again) == text(first)
    assert json.loads(text(report_again)) == state
    assert listing(work)[0] == "lorakit-course" and not (course / "lorakit-course").exists()


@pytest.mark.slow
def test_failed_clone_says_what_to_do_in_one_line(tmp_path):
    (outputs,) = run_cells([setup_source()], tmp_path, f"file://{tmp_path}/no-such-repo.git")
    (error,) = errors(outputs)
    assert error["ename"] == "SetupError"
    assert len(error["traceback"]) == 1 and "\n" not in error["traceback"][0].strip()
    assert "Internet" in error["traceback"][0] and "run this cell again" in error["traceback"][0]
    assert not (tmp_path / "lorakit-course").exists()


def test_setup_cell_does_nothing_locally():
    env = {k: v for k, v in os.environ.items() if k not in ("LORAKIT_SETUP",)}
    code = setup_source() + "\nprint('subprocess' in dir())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
