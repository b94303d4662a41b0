"""lorakit/doctor.py: the readiness check (versions, model and one LoRA step, widgets, disk, device)."""
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lorakit import doctor
from lorakit import doctor as check_widgets   # the widget tests below, moved from scripts/check_widgets.py

ROOT = Path(__file__).resolve().parent.parent


def test_installed_pair_satisfies_ipywidgets_pin():
    ipywidgets = check_widgets.installed_version("ipywidgets")
    frontend = check_widgets.installed_version("jupyterlab_widgets")
    assert check_widgets.pin_problems(ipywidgets, frontend, md.requires("ipywidgets")) == []


@pytest.mark.parametrize("frontend, bad", [("3.0.17", False), ("3.0.20", False), ("3.0.16", True), ("4.0.0", True)])
def test_pin_problems_name_the_mismatch(frontend, bad):
    found = check_widgets.pin_problems("8.1.9", frontend, ["comm>=0.1.3", "jupyterlab_widgets~=3.0.17"])
    assert bool(found) == bad
    if bad:
        assert "jupyterlab_widgets~=3.0.17" in found[0] and frontend in found[0] and "model not found" in found[0]


def test_pin_problems_when_a_side_is_missing():
    assert "pip install ipywidgets" in check_widgets.pin_problems(None, "3.0.17", [])[0]
    assert "jupyterlab_widgets" in check_widgets.pin_problems("8.1.9", None, [])[0]


def _extension(folder: Path, version: str) -> Path:
    pkg = folder / check_widgets.EXTENSION / "package.json"
    pkg.parent.mkdir(parents=True)
    pkg.write_text(json.dumps({"name": check_widgets.EXTENSION, "version": version}))
    return pkg


def test_the_first_extension_on_the_path_is_loaded_and_must_be_the_shipped_one(tmp_path):
    user, env = tmp_path / "user", tmp_path / "env"
    stale, shipped = _extension(user, "3.0.0"), _extension(env, "5.0.16")
    assert check_widgets.loaded_extension([tmp_path / "none", user, env]) == stale
    shipped_hash = check_widgets._sha256_record(shipped)
    found = check_widgets.shadow_problems(stale, shipped_hash, "3.0.17")
    assert len(found) == 1 and "3.0.0" in found[0] and str(user) in found[0], found
    assert check_widgets.shadow_problems(shipped, shipped_hash, "3.0.17") == []
    assert "finds no" in check_widgets.shadow_problems(None, shipped_hash, "3.0.17")[0]


def test_this_environment_loads_the_shipped_extension():
    from jupyter_core.paths import jupyter_path

    loaded = check_widgets.loaded_extension([Path(p) for p in jupyter_path("labextensions")])
    assert check_widgets.shadow_problems(loaded, check_widgets.shipped_extension_hash(), "?") == []


def test_page_config_that_disables_the_extension_is_found(tmp_path):
    low, high = tmp_path / "sys", tmp_path / "user"
    for folder, value in ((low, {doctor.EXTENSION: True}), (high, {})):
        (folder / "labconfig").mkdir(parents=True)
        (folder / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": value}))
    found = doctor.disabled_problems(doctor.disabled_patterns([high, low]))
    assert len(found) == 1 and "labextension enable" in found[0]
    (high / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {doctor.EXTENSION: False}}))
    assert doctor.disabled_problems(doctor.disabled_patterns([high, low])) == [], "the user's level wins"
    assert doctor.disabled_problems({"@jupyter-widgets/.*": True}), "patterns are regexes"


def test_enabled_problems_read_the_listing():
    ok = "  \x1b[32m@jupyter-widgets/jupyterlab-manager\x1b[0m v5.0.16 \x1b[32menabled\x1b[0m \x1b[32mOK\x1b[0m (python)"
    assert check_widgets.enabled_problems(ok) == []
    disabled = "  @jupyter-widgets/jupyterlab-manager v5.0.16 disabled OK (python)"
    assert "labextension enable" in check_widgets.enabled_problems(disabled)[0]
    assert "does not list" in check_widgets.enabled_problems("jupyterlab_pygments v0.3.0 enabled OK")[0]


# ---------------------------------------------------------------------------- versions and the report

def test_bounds_violated_missing_and_within():
    installed = {"numpy": "1.20.0", "peft": "0.21.2", "trl": "2.1.0"}.get
    found = doctor.version_findings(["numpy>=1.26", "peft>=0.21,<0.22", "trl>=1.0,<2", "scipy>=1.11"], installed)
    assert found[0].ok and "peft 0.21.2" in found[0].what
    bad = {f.what.split()[0]: f for f in found[1:]}
    assert set(bad) == {"numpy", "trl", "scipy"} and not any(f.ok for f in bad.values())
    assert bad["numpy"].fix == 'pip install "numpy>=1.26"'
    assert "<2" in bad["trl"].fix and "not installed" in bad["scipy"].what and ".[course]" in bad["scipy"].fix


def test_python_bounds():
    assert doctor.python_finding(">=3.10", "3.11.7").ok
    old = doctor.python_finding(">=3.10", "3.9.18")
    assert not old.ok and ">=3.10" in old.fix


def test_requirements_from_pyproject_include_the_course_extra():
    requires, reqs = doctor.course_requirements()
    assert requires == ">=3.10"
    assert any(r.startswith("peft") for r in reqs) and any(r.startswith("ipywidgets") for r in reqs)
    assert not any(r.startswith("pytest") for r in reqs), "the test extra is not a learner's concern"


def test_disk_finding_names_the_shortfall(tmp_path):
    assert doctor.disk_finding(tmp_path, min_free_gb=0.001).ok
    short = doctor.disk_finding(tmp_path, min_free_gb=1e9)
    assert not short.ok and "free at least" in short.fix


def test_a_violated_bound_fails_with_its_fix(tmp_path, capsys):
    text, n = re.subn(r'"numpy>=[^"]*"', '"numpy>=99"', (ROOT / "pyproject.toml").read_text())
    assert n == 1, "pyproject.toml should name numpy's bound once"
    (tmp_path / "pyproject.toml").write_text(text)
    code = doctor.main(["--pyproject", str(tmp_path / "pyproject.toml"), "--no-model", "--no-widgets"])
    out = capsys.readouterr().out
    assert code == 1 and "NOT READY: 1 problem" in out
    assert "FAIL  numpy" in out and 'fix: pip install "numpy>=99"' in out


def test_doctor_for_real_in_a_subprocess():
    """python -m lorakit.doctor as a learner runs it: ready here, in at most 30 s (the issue's bar on
    the 2-core machine; other jobs sharing the CPU slow it)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lorakit.doctor"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    assert "READY" in done.stdout and "one PEFT LoRA step runs" in done.stdout and done.stderr == ""
    assert seconds <= 30, f"make doctor took {seconds:.1f} s > 30 s"
