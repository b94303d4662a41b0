"""scripts/version_matrix.py: the requirement lines of make min-versions / newest / latest."""
import importlib.util

import pytest

from lorakit.course.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("version_matrix", REPO_ROOT / "scripts" / "version_matrix.py")
vm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vm)

DEPS = ["torch", "transformers>=5.0,<6", "peft >= 0.21, < 0.22", "numpy>=1.26", "pyyaml", "extra[x]>=2.1"]


def test_oldest_pins_each_lower_bound_and_torch_to_its_spec():
    assert vm.pins(DEPS, "oldest", "torch==2.13.0") == [
        "torch==2.13.0", "transformers==5.0", "peft==0.21", "numpy==1.26", "pyyaml", "extra[x]==2.1"]


def test_newest_keeps_the_bounds_and_latest_lifts_the_upper_ones():
    assert vm.pins(DEPS, "newest")[1:3] == ["transformers>=5.0,<6", "peft >= 0.21, < 0.22"]
    assert vm.pins(DEPS, "latest")[1:3] == ["transformers>=5.0", "peft>=0.21"]


def test_every_dependency_of_pyproject_has_a_lower_bound_to_test():
    deps = vm.dependencies()
    oldest = vm.pins(deps, "oldest")
    assert len(oldest) == len(deps)
    assert all("==" in line for line in oldest), oldest   # torch: TORCH_SPEC; the rest: their lower bounds


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        vm.pins(DEPS, "middle")
