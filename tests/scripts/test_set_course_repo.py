"""scripts/set_course_repo.py: badges, Setup cells and [tool.lorakit] in pyproject.toml agree."""
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("set_course_repo", ROOT / "scripts" / "set_course_repo.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

BADGE = re.compile(r"https://(?:colab\.research\.google\.com/github/|kaggle\.com/kernels/welcome\?src=https://github\.com/)"
                   r"([^/]+/[^/]+)/blob/([^/]+)/([^)\s]+)")


def first_code_cell(path: Path) -> str:
    return "".join(next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")["source"])


@pytest.mark.parametrize("path", script.course_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setup_cell_is_the_rendered_template(path):
    assert first_code_cell(path) == script.setup_cell(*script.course_location()), \
        "run python scripts/set_course_repo.py (it owns the Setup cell's text)"


def test_every_badge_names_pyprojects_repo_and_an_existing_notebook():
    repo, branch = script.course_location()
    found = BADGE.findall((ROOT / "README.md").read_text())
    assert found, "README.md has no Colab/Kaggle badges"
    for badge_repo, badge_branch, notebook in found:
        assert (badge_repo, badge_branch) == (repo, branch), "run python scripts/set_course_repo.py"
        assert (ROOT / notebook).is_file(), f"a badge opens {notebook}, which does not exist"


def test_every_course_notebook_has_both_badges():
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = str(path.relative_to(ROOT))
        opened = [n for *_, n in BADGE.findall(readme) if n == notebook]
        assert len(opened) == 2, (f"add a row linking {notebook} to README.md's table, "
                                  "then run python scripts/set_course_repo.py")


def test_moving_the_course_rewrites_everything(tmp_path, monkeypatch):
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    notebook = tmp_path / "00_start_here.ipynb"
    shutil.copy(ROOT / "notebooks" / "00_start_here.ipynb", notebook)
    monkeypatch.setattr(script, "PYPROJECT", tmp_path / "pyproject.toml")
    monkeypatch.setattr(script, "README", tmp_path / "README.md")
    monkeypatch.setattr(script, "course_notebooks", lambda: [notebook])
    assert script.main(["someone/fork", "--branch", "dev"]) == 0
    assert script.course_location(tmp_path / "pyproject.toml") == ("someone/fork", "dev")
    assert '"https://github.com/someone/fork"' in first_code_cell(notebook) and '"dev"' in first_code_cell(notebook)
    readme = (tmp_path / "README.md").read_text()
    assert {(r, b) for r, b, _ in BADGE.findall(readme)} == {("someone/fork", "dev")}
    before = readme, notebook.read_text()
    script.main([])                       # re-rendering is a no-op
    assert ((tmp_path / "README.md").read_text(), notebook.read_text()) == before


def test_bad_repo_is_refused():
    with pytest.raises(SystemExit):
        script.main(["not a repo"])
