"""scripts/calibrate_presets.py: the first file's layout is migrated without losing a point, every
shipped run names its preset, task and recipe, and a missing model is refused in one line."""
import importlib.util
import json

import pytest

from lorakit.course.paths import REPO_ROOT, RESULTS_DATA_DIR
from lorakit.data.tasks import TASKS

spec = importlib.util.spec_from_file_location("calibrate_presets", REPO_ROOT / "scripts" / "calibrate_presets.py")
calibrate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(calibrate)


def old_layout():
    points = [{"step": 0, "em": 0.0, "ci": [0.0, 0.0], "train_seconds": 0.0},
              {"step": 10, "em": 0.42, "ci": [0.28, 0.56], "train_seconds": 88.9}]
    return {"model": "m", "recipe": {"preset": "t4", "batch_size": 8, "r": 16, "lora_alpha": 16}, "task": "QA exact match on 50",
            "torch_threads": 1, "runs": {"lr=0.001": {"lr": 1e-3, "points": points, "steps_to_target": None}}}


def test_migrate_keys_runs_by_preset_task_and_rate_and_keeps_every_point():
    record = old_layout()
    runs = calibrate.migrate(record)
    assert list(runs) == ["t4/qa/lr=0.001"] and "recipe" not in record and "task" not in record
    run = runs["t4/qa/lr=0.001"]
    assert run["points"] == old_layout()["runs"]["lr=0.001"]["points"]
    assert (run["preset"], run["task"], run["recipe"]["batch_size"], run["torch_threads"]) == ("t4", "qa", 8, 1)
    assert calibrate.migrate(record) == runs                        # a second call changes nothing


def test_shipped_file_names_every_runs_preset_task_and_recipe():
    record = json.loads((RESULTS_DATA_DIR / "preset_calibration_real135m.json").read_text())
    assert record["runs"], "no runs recorded"
    for key, run in record["runs"].items():
        assert key == f"{run['preset']}/{run['task']}/lr={run['lr']:g}" and run["task"] in TASKS
        assert run["recipe"]["preset"] == run["preset"] and run["points"][0]["step"] == 0
        steps = [p["step"] for p in run["points"]]
        assert steps == sorted(steps) and all(0 <= p["em"] <= 1 for p in run["points"])
        reached = [p["step"] for p in run["points"] if p["em"] >= record["target"]]
        assert run["steps_to_target"] == (reached[0] if reached else None), key


def test_missing_model_is_refused(tmp_path, capsys):
    assert calibrate.main(["--model", str(tmp_path), "--out", str(tmp_path / "x.json")]) == 1
    assert "make real-weights" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        calibrate.main(["--task", "poetry", "--model", str(tmp_path)])


def test_table_has_a_row_per_run_and_says_when_the_target_was_missed(tmp_path, capsys):
    record = old_layout()
    record["target"] = 0.9
    record["runs"]["lr=0.001"]["points"].append({"step": 20, "em": 0.92, "ci": [0.84, 0.98], "train_seconds": 99.0})
    record["runs"]["lr=0.001"]["steps_to_target"] = 20
    record["runs"]["lr=0.0002"] = {"lr": 2e-4, "points": old_layout()["runs"]["lr=0.001"]["points"], "steps_to_target": None}
    rows = calibrate.table(record).splitlines()
    assert "recipe" in record and "lr=0.001" in record["runs"]          # the caller's record is left as it was
    assert len(rows) == 4 and rows[0].startswith("| preset (batch)") and "≥ 90%" in rows[0]
    assert "| t4 (8) | qa (r 16, α 16) | 0.001 | 20 | 92% [84%, 98%] at 20 |" in rows
    assert "| 0.0002 | not within 10 | 42% [28%, 56%] at 10 |" in rows[3]
    out = tmp_path / "c.json"
    out.write_text(json.dumps(record))
    assert calibrate.main(["--table", "--out", str(out)]) == 0 and capsys.readouterr().out.count("\n") == 4
    assert calibrate.main(["--table", "--out", str(tmp_path / "none.json")]) == 1
