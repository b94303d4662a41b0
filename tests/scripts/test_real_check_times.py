"""scripts/real_check_times.py: README's "real 135M weights, CPU" column, from a real-check summary."""
import importlib.util

from lorakit.course.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("real_check_times", REPO_ROOT / "scripts" / "real_check_times.py")
rct = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rct)

README = """intro

| # | notebook | what you learn | 2-core CPU | T4 | open |
|---|---|---|---|---|---|
| 00 | [Start here](notebooks/00_start_here.ipynb) | a | 14 s | unmeasured | badge |
| 02 | [Fine-tune](notebooks/02_lora_finetune.ipynb) | b | 106 s | unmeasured | badge |
| 05 | [Merge](notebooks/05_merging.ipynb) | c | 78 s | unmeasured | badge |

CPU times come from make course.
"""
SUMMARY = {"00_start_here": {"status": "ok", "seconds": 61.4, "results": {"preset": "cpu-hub"}},
           "02_lora_finetune": {"status": "ok", "seconds": 259.2, "results": {"em_before": 0.0, "em_after": 0.5}},
           "05_merging": {"status": "FAILED", "seconds": 10.0, "results": {}}}


def test_column_is_inserted_after_the_cpu_column_and_filled_from_the_summary():
    out = rct.fill(README, SUMMARY)
    lines = out.splitlines()
    assert lines[2] == "| # | notebook | what you learn | 2-core CPU | real 135M weights, CPU | T4 | open |"
    assert lines[3] == "|---|---|---|---|---|---|---|"
    assert lines[4].split(" | ")[3:5] == ["14 s", "61 s"]
    assert lines[5].split(" | ")[4] == "259 s, EM 0% → 50%"
    assert lines[6].split(" | ")[4] == "fails"
    assert lines[-1] == "CPU times come from make course." and lines[0] == "intro"


def test_a_second_run_updates_in_place_and_leaves_rows_not_run():
    once = rct.fill(README, SUMMARY)
    twice = rct.fill(once, {"02_lora_finetune": {"status": "ok", "seconds": 300, "results": {}}})
    assert twice.count("real 135M weights, CPU") == 1
    assert twice.splitlines()[5].split(" | ")[4] == "300 s"
    assert twice.splitlines()[4].split(" | ")[4] == "61 s"          # kept from the first run
    assert rct.fill(README, {}).splitlines()[4].split(" | ")[4] == "not run"
