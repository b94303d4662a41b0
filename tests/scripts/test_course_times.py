"""scripts/course_times.py: the README's CPU column comes from the course runner's summary."""
import importlib.util

from lorakit.course.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("course_times", REPO_ROOT / "scripts" / "course_times.py")
course_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course_times)

README = """\
| # | notebook | what you learn | 2-core CPU | T4 | open |
|---|---|---|---|---|---|
| 00 | [Start here](notebooks/00_start_here.ipynb) | things | ~35 s | unmeasured | badges |
| 01 | [LoRA math](notebooks/01_lora_math.ipynb) | more | ~35 s | unmeasured | badges |
"""


def test_fill_sets_the_cpu_column_of_measured_rows_only():
    out = course_times.fill(README, {"00_start_here": 41.26})
    rows = out.splitlines()
    assert rows[2] == "| 00 | [Start here](notebooks/00_start_here.ipynb) | things | 41 s | unmeasured | badges |"
    assert rows[3] == README.splitlines()[3], "a notebook missing from the summary keeps its cell"


def test_main_reads_the_summary(tmp_path):
    import json
    (tmp_path / "summary.json").write_text(json.dumps({
        "00_start_here": {"status": "ok", "seconds": 12.0, "error": "", "results": {}},
        "01_lora_math": {"status": "FAILED", "seconds": 3.0, "error": "boom", "results": {}}}))
    (tmp_path / "README.md").write_text(README)
    course_times.main(["--summary", str(tmp_path / "summary.json"), "--readme", str(tmp_path / "README.md")])
    text = (tmp_path / "README.md").read_text()
    assert "| 12 s |" in text and text.count("~35 s") == 1, "a failed run does not overwrite a time"
