import json

import pytest

from lorakit.studies import ablations, merge_sweep, qalora_sweep, rslora, tables


def test_round_trip(tmp_path):
    table = {"meta": {"n": 3}, "runs": {"a": [1, 0, 1]}}
    path = tables.save_table(table, tmp_path / "deep" / "t.json")
    assert path.is_file()
    assert json.loads(path.read_text()) == table
    assert tables.load_table(path, "scripts/producers/x.py") == table


def test_missing_file_names_the_producer(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run python scripts/producers/x\.py"):
        tables.load_table(tmp_path / "none.json", "scripts/producers/x.py")


@pytest.mark.parametrize("module, producer", [
    (ablations, "sweep_lora_ablations.py"), (merge_sweep, "merge_sweep.py"),
    (rslora, "rslora_sweep.py"), (qalora_sweep, "qalora_sweep.py"),
])
def test_each_study_names_its_own_producer(tmp_path, module, producer):
    load = getattr(module, "load_table", None) or module.load_sweep
    with pytest.raises(FileNotFoundError, match=f"scripts/producers/{producer}"):
        load(tmp_path / "none.json")


def test_bad_input(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        tables.save_table([1, 2], tmp_path / "t.json")
    with pytest.raises(ValueError, match="producer"):
        tables.load_table(tmp_path / "t.json", "")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        tables.load_table(tmp_path / "list.json", "scripts/producers/x.py")
