"""lorakit.recipe.cli: ``python -m lorakit.recipe`` and its documented alias ``python -m lorakit.train``."""
import subprocess
import sys

import pytest

from lorakit.course.paths import REPO_ROOT


@pytest.mark.parametrize("module", ["lorakit.recipe", "lorakit.train"])
def test_module_runs_the_recipe_cli(module):
    ok = subprocess.run([sys.executable, "-m", module, "--config", str(REPO_ROOT / "configs" / "lora-tiny.yaml"),
                         "--check"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", module, "--config", "no/such/config.yaml", "--check"],
                         capture_output=True, text=True, cwd=REPO_ROOT)
    assert bad.returncode != 0 and "no/such/config.yaml" in bad.stdout + bad.stderr
