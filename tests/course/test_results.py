import json

import pytest
import torch

from lorakit.course import results


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAKIT_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(results, "_current_notebook", None)


def test_record_writes_and_merges(tmp_path):
    results.start("01_demo")
    results.record("a", 1)
    results.record("b", {"x": 0.5})
    data = json.loads((tmp_path / "01_demo.json").read_text())
    assert data == {"a": 1, "b": {"x": 0.5}}
    assert results.load("01_demo") == data


def test_tensors_and_tuples_become_json(tmp_path):
    results.record("t", torch.tensor(2.5), notebook="nb")
    results.record("v", (torch.tensor([1, 2]), 3), notebook="nb")
    assert results.load("nb") == {"t": 2.5, "v": [[1, 2], 3]}


def test_start_is_the_one_place_that_names_the_notebook(tmp_path, monkeypatch):
    results.record("early", 1)                      # before start(): a scratch file, not a notebook's
    assert results.load(results.INTERACTIVE) == {"early": 1}
    monkeypatch.setenv("LORAKIT_NOTEBOOK", "02_env")  # the old second source is ignored
    results.start("02_real")
    results.record("k", "v")
    assert results.load("02_real") == {"k": "v"} and not (tmp_path / "02_env.json").exists()


def test_default_dir_is_the_repository_build_folder(monkeypatch):
    from lorakit.course.paths import BUILD_DIR
    monkeypatch.delenv(results.RESULTS_ENV)
    assert results.results_dir() == BUILD_DIR / "results"


@pytest.mark.parametrize("bad", ["", None, 3])
def test_bad_keys(bad):
    with pytest.raises(ValueError, match="key"):
        results.record(bad, 1)


def test_unjsonable_value():
    with pytest.raises(TypeError, match="numbers, strings"):
        results.record("obj", object())


def test_start_needs_a_name():
    with pytest.raises(ValueError, match="stem"):
        results.start("")


def test_clear_forgets_one_notebook():
    results.record("a", 1, notebook="keep")
    results.record("b", 2, notebook="drop")
    results.clear("drop")
    results.clear("never-recorded")
    assert results.load("drop") == {} and results.load("keep") == {"a": 1}
