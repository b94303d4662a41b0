"""scripts/gpu_check.py and scripts/gpu_wheels.py on a CPU machine: the dry run and the wheel plan."""
import importlib.util
import subprocess
import sys

import pytest
import torch

from lorakit.course.paths import REPO_ROOT


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU dry run")
def test_without_cuda_it_says_so_in_one_line_and_exits_0(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "gpu_check.py"), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines() == [_load("gpu_check").NEEDS_CUDA]
    assert "CUDA" in proc.stdout and not (tmp_path / "r").exists()   # nothing ran, nothing written


def test_the_wheel_plan_leaves_out_what_the_image_has_and_pins_bitsandbytes():
    wheels = _load("gpu_wheels")
    pins, base = wheels.plan("3.12")
    names = {p.split("==")[0] for p in pins}
    assert "bitsandbytes==0.50.2" in pins
    assert {"peft", "trl", "datasets", "accelerate", "nbval", "ipykernel"} <= names
    assert not names & {"torch", "transformers", "numpy", "scipy", "pyarrow", "tokenizers", "safetensors"}
    assert not names & wheels.OPTIONAL
    assert {"torch", "transformers", "numpy", "huggingface-hub"} <= set(base)


def test_closure_follows_requirements_and_their_markers():
    wheels = _load("gpu_wheels")
    env = dict(wheels.default_environment(), python_version="3.12")
    got = wheels.closure(["peft"], env)
    assert {"peft", "torch", "transformers", "accelerate", "safetensors"} <= got
    assert "colorama" not in got   # tqdm's Windows-only requirement


def test_the_nf4_comparison_runs_against_bitsandbytes_cpu_kernels_on_whole_block_rows():
    # the CUDA comparison's own code, checked here against bitsandbytes' CPU kernels (shapes where they are right)
    check = _load("gpu_check")
    result = check.nf4_vs_bitsandbytes("cpu", shapes=[(64, 64), (4096,), (3, 256)], blocksizes=(64,))
    assert result == {"cases": 3 * 3 * 2, "identical": 18}
