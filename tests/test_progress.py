"""The progress file: every checker records its outcome, the table and the class codes read it back."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lorakit import exercises, progress
from lorakit.exercises import registered, set_strict
from lorakit.exercises.nb03 import check_scale_index
from lorakit.course.paths import REPO_ROOT

ROOT = Path(__file__).resolve().parent.parent


def stub(row, col, n_cols, blocksize):
    return None


def wrong(row, col, n_cols, blocksize):
    return 0


def right(row, col, n_cols, blocksize):
    return (row * n_cols + col) // blocksize


@pytest.fixture(autouse=True)
def not_strict():
    set_strict(False)
    yield
    set_strict(False)


def test_a_stub_records_nothing_a_wrong_answer_is_tried_a_right_one_done(capsys):
    check_scale_index(stub)
    assert progress.states()["03.2"] == "not tried"
    assert not progress.progress_file().exists()
    check_scale_index(wrong)
    assert progress.states()["03.2"] == "tried"
    check_scale_index(right)
    assert progress.states()["03.2"] == "done"
    check_scale_index(wrong)                        # done stays done; the try is counted
    entry = progress.load()["03.2"]
    assert entry["status"] == "done" and entry["tries"] == 3
    assert entry["first"] <= entry["done"] <= entry["last"]
    assert entry["last"].endswith("+00:00")         # a UTC timestamp
    assert set(json.loads(progress.progress_file().read_text())) == {"version", "exercises"}


def test_progress_survives_a_restart_and_shows_in_another_process():
    check_scale_index(right)
    out = subprocess.run([sys.executable, "-c", "from lorakit import progress; progress.show(notebook=3)"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert "✓ 2 scale_index (done)" in out.stdout
    assert "· 1 absmax_in_sigmas (not tried)" in out.stdout


def test_strict_mode_writes_nothing(capsys):
    set_strict(True)
    assert check_scale_index(right)
    with pytest.raises(AssertionError):
        check_scale_index(wrong)
    assert not progress.progress_file().exists()


def test_off_records_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv(progress.PROGRESS_ENV, "off")
    assert progress.progress_file() is None
    check_scale_index(right)
    assert progress.states()["03.2"] == "not tried"
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_place_prints_only_the_checkers_line(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(progress.PROGRESS_ENV, str(blocker / "progress.json"))   # its parent is a file
    assert check_scale_index(right)
    assert capsys.readouterr().out.count("\n") == 1
    assert progress.states()["03.2"] == "not tried"


def test_a_damaged_file_reads_as_empty_and_is_replaced(capsys):
    path = progress.progress_file()
    path.write_text("{not json")
    assert progress.load() == {}
    check_scale_index(right)
    assert progress.load()["03.2"]["status"] == "done"


def test_default_file_is_in_the_course_folder_and_gitignored(monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV)
    path = progress.progress_file()
    assert path == REPO_ROOT / progress.FILE_NAME
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO_ROOT)
    assert ignored.returncode == 0, f"{progress.FILE_NAME} must be in .gitignore"


def test_the_table_lists_every_registered_exercise(capsys):
    check_scale_index(wrong)
    progress.show()
    out = capsys.readouterr().out
    assert f"0 of {len(registered())} exercises done" in out
    for ex in registered():
        assert f" {ex.number} {ex.name} (" in out
    assert "~ 2 scale_index (tried)" in out
    lines = [line for line in out.splitlines() if line[:2].isdigit()]
    assert [line[:2] for line in lines] == sorted({f"{e.notebook:02d}" for e in registered()})
    with pytest.raises(ValueError, match="no exercises in notebook 99"):
        progress.show(notebook=99)


def test_the_registry_holds_every_checker_once():
    import importlib

    found = []
    for ex in registered():
        module = importlib.import_module(f"lorakit.exercises.nb{ex.notebook:02d}")
        assert getattr(module, f"check_{ex.name}").exercise is ex
        found.append(ex.key)
    assert len(found) == len(set(found))
    for nb in {e.notebook for e in registered()}:
        numbers = sorted(e.number for e in registered() if e.notebook == nb)
        assert numbers == list(range(1, len(numbers) + 1)), f"notebook {nb}: exercises numbered 1..n"


def test_code_round_trip_and_checksum_catches_a_typo(capsys):
    check_scale_index(right)
    text = progress.code()
    assert text in capsys.readouterr().out
    decoded = progress.decode(text.lower())   # case does not matter
    assert decoded[2][1] == "done" and decoded[2][0] == "not tried"
    assert sum(len(g) for g in decoded) == len(registered())
    body, checksum = text.rsplit("-", 1)
    for i, char in enumerate(body):
        if i >= len("LK1-") and char in "012":
            for other in "012".replace(char, ""):
                typo = body[:i] + other + body[i + 1:] + "-" + checksum
                with pytest.raises(ValueError, match="checksum"):
                    progress.decode(typo)
    with pytest.raises(ValueError, match="not a progress code"):
        progress.decode("hello")


def test_decode_command_prints_the_class_table():
    states = {ex.key: "not tried" for ex in registered()}
    ana = progress.encode({**states, "01.1": "done", "01.2": "tried"})
    bo = progress.encode({**states, "01.1": "done"})
    run = subprocess.run([sys.executable, "-m", "lorakit.progress", "decode", f"ana={ana}", bo, "bad=LK1-2-00"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = run.stdout.splitlines()
    assert run.returncode == 1                       # a bad code is reported, and the exit status says so
    assert lines[0].split()[:2] == ["01.1", "01.2"]
    assert lines[1].startswith("ana") and lines[1].split()[1:3] == ["✓", "~"] and lines[1].endswith("1 done")
    assert lines[2].startswith("learner 2") and lines[2].split()[2:4] == ["✓", "·"]
    assert lines[3].startswith("bad") and "checksum" in lines[3]
    assert lines[4].startswith("done / tried") and lines[4].split()[3:5] == ["2/0", "0/1"]   # done/tried per exercise, for the teacher


def test_record_refuses_a_bad_status():
    with pytest.raises(ValueError, match="status"):
        progress.record(3, 2, "finished")


def test_hints_reset_between_tests_do_not_leak():
    assert all(ex.shown == 0 for ex in exercises.registered())
