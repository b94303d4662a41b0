"""scripts/check_widgets.py: the kernel's ipywidgets and JupyterLab's widget extension must match."""
import importlib.metadata as md
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_widgets", ROOT / "scripts" / "check_widgets.py")
check_widgets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_widgets)


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


def test_enabled_problems_read_the_listing():
    ok = "  \x1b[32m@jupyter-widgets/jupyterlab-manager\x1b[0m v5.0.16 \x1b[32menabled\x1b[0m \x1b[32mOK\x1b[0m (python)"
    assert check_widgets.enabled_problems(ok) == []
    disabled = "  @jupyter-widgets/jupyterlab-manager v5.0.16 disabled OK (python)"
    assert "labextension enable" in check_widgets.enabled_problems(disabled)[0]
    assert "does not list" in check_widgets.enabled_problems("jupyterlab_pygments v0.3.0 enabled OK")[0]
