"""lorakit.course.bootstrap: install only what is missing or too old, never torch, nothing the second time."""
import importlib.metadata as md

from lorakit.course import bootstrap
from lorakit.course.paths import REPO_ROOT


def test_plan_installs_missing_and_too_old_keeps_too_new_and_never_torch():
    packaging = md.version("packaging")
    install, notes = bootstrap.plan([
        "torch>=999",                         # never touched, whatever it asks
        "no-such-package-lorakit>=1.0",       # missing
        "packaging>=999",                     # older than the minimum
        f"packaging>={packaging}",            # satisfied
        "packaging<1",                        # newer than the course's bound: kept, with a note
    ])
    assert install == ["no-such-package-lorakit>=1.0", "packaging>=999"]
    assert len(notes) == 1 and "packaging" in notes[0] and "keeping it" in notes[0]


def test_the_course_itself_needs_nothing_here(capsys):
    # the environment running the tests has every dependency: nothing to install, one line
    assert bootstrap.install_missing(REPO_ROOT / "pyproject.toml") == []
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("lorakit ready") and "installed: nothing" in out[-1]


def test_constraints_pin_the_installed_torch(tmp_path):
    pins = open(bootstrap._constraints()).read().split()
    assert f"torch=={md.version('torch')}" in pins


def test_setup_error_renders_as_one_line():
    assert bootstrap.SetupError("do this")._render_traceback_() == ["do this"]
