"""scripts/hub_view.py: which cells are gated on the shipped model, and what their output tells a learner."""
import importlib.util
import json

import pytest

from lorakit.course.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("hub_view", REPO_ROOT / "scripts" / "hub_view.py")
hub_view = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hub_view)


@pytest.mark.parametrize("source, expected", [
    ("if shipped:\n    assert em > 0.9", True),
    ("x = 1\nelif not SHIPPED and y:\n    pass", True),
    ("rows = table if table_applies else live()", True),
    ("shipped = is_shipped(model_id)", False),                 # defining the flag is not branching on it
    ("print('the shipped model')  # if shipped", False),       # prose and comments are not conditions
    ("if steps > 10:\n    print(steps)", False),
    ('label_shipped_table(model_id, "the rank table")\nprint(table)', True),   # a shipped table is printed
])
def test_gated_reads_conditions_only(source, expected):
    assert hub_view.gated(source) is expected


@pytest.mark.parametrize("text, kind", [
    ("", "silent"),
    ("\n  \n", "silent"),
    ("(the >= 90% check is for the shipped model trained for 300 steps or more; skipped here)\n", "skipped"),
    ("table\nThese rows were measured on the shipped tiny model, not on x\n", "labelled"),
    ("exact match 42.0% [30.0, 54.0]\n", "live"),
])
def test_classify(text, kind):
    assert hub_view.classify(text)[0] == kind


def _notebook(cells):
    return {"cells": [{"cell_type": "code", "source": src, "outputs": outs} for src, outs in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_main_flags_a_silent_gated_cell_and_a_missing_notebook(tmp_path, monkeypatch, capsys):
    fake_repo = tmp_path / "repo"
    (fake_repo / "notebooks").mkdir(parents=True)
    for name in ("00_a.ipynb", "01_b.ipynb"):
        (fake_repo / "notebooks" / name).write_text("{}")
    run = tmp_path / "run"
    run.mkdir()
    stream = lambda t: [{"output_type": "stream", "name": "stdout", "text": t}]   # noqa: E731
    (run / "00_a.ipynb").write_text(json.dumps(_notebook([("if shipped:\n    check()", []),
                                                          ("if not shipped:\n    print('x')", stream("skipped here\n")),
                                                          ("y = 2", [])])))
    monkeypatch.setattr(hub_view, "REPO", fake_repo)
    assert hub_view.main(["--run", str(run)]) == 1
    err = capsys.readouterr().err
    assert "01_b.ipynb" in err and "1 gated cell(s) print nothing" in err
    report = json.loads((run / "gated_cells.json").read_text())
    assert [r["class"] for r in report["00_a"]] == ["silent", "skipped"] and [r["cell"] for r in report["00_a"]] == [0, 1]


def test_only_audits_the_named_notebooks_and_keeps_earlier_rows(tmp_path, monkeypatch):
    fake_repo = tmp_path / "repo"
    (fake_repo / "notebooks").mkdir(parents=True)
    for name in ("00_a.ipynb", "01_b.ipynb"):
        (fake_repo / "notebooks" / name).write_text("{}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "gated_cells.json").write_text(json.dumps({"00_a": [{"cell": 9, "class": "live", "line": "x"}]}))
    stream = [{"output_type": "stream", "name": "stdout", "text": "42%\n"}]
    (run / "01_b.ipynb").write_text(json.dumps(_notebook([("if shipped:\n    print(1)", stream)])))
    monkeypatch.setattr(hub_view, "REPO", fake_repo)
    assert hub_view.main(["--run", str(run), "--only", "notebooks/01_b.ipynb"]) == 0   # 00_a not run: not missing
    report = json.loads((run / "gated_cells.json").read_text())
    assert report["00_a"][0]["cell"] == 9 and report["01_b"][0]["class"] == "live"
    with pytest.raises(SystemExit):
        hub_view.main(["--run", str(run), "--only", "notebooks/99_z.ipynb"])
