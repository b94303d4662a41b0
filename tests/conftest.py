"""Shared test setup: checkers record progress into a temporary file, never the course's own."""
import pytest


@pytest.fixture(autouse=True)
def _progress_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAKIT_PROGRESS_FILE", str(tmp_path / "progress.json"))
    from lorakit import exercises

    exercises.reset_hints()
    yield
    exercises.reset_hints()
