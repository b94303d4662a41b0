import json

import pytest
import torch

from lorakit import results


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAKIT_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(results, "_current_notebook", None)
    monkeypatch.delenv("LORAKIT_NOTEBOOK", raising=False)


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


def test_env_var_names_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAKIT_NOTEBOOK", "02_env")
    results.record("k", "v")
    assert (tmp_path / "02_env.json").exists()


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
