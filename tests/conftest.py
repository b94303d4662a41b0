"""Shared by every test folder: tests/ and tests/browser/ on sys.path, so their helper modules
(lora_helpers, browser_support) import by name under ``--import-mode=importlib``; and checkers record
progress into a temporary file, never the course's own."""
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE / "browser"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(autouse=True)
def _progress_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAKIT_PROGRESS_FILE", str(tmp_path / "progress.json"))
    from lorakit import exercises

    exercises.reset_hints()
    yield
    exercises.reset_hints()
