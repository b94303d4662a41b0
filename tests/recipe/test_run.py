"""The recipe as a command, run for real on the shipped model: one process, two processes (DDP on
the CPU, gloo), and a run killed mid-way then resumed. Each is compared with the uninterrupted
one-process run at the same global batch.

These runs take a few minutes on 2 cores; they are what CI uses to show that ``accelerate launch``
gives the same adapter as one process, and that ``--resume`` loses nothing.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "lora-tiny.yaml"
# Short runs: what these tests compare is the adapter (1 vs 2 processes, killed+resumed vs not), which any
# step count shows; that the recipe teaches the task to >= 90% is notebook 02's and 04's check (300 steps).
# Measured with lora-tiny.yaml: eval loss 7.86 at step 10, 3.09 at step 20, 2.57 at step 40 and 1.59 at
# step 80 (exact match then 3% of 60 test questions). 20 steps (not 40: CI time) and a checkpoint every 5,
# so the killed run dies after step 10, halfway.
STEPS, SAVE_EVERY, GLOBAL_BATCH = 20, 5, 16
LEARNED_EVAL_LOSS = 4.0   # an eval loss below this after 20 steps: the run trained (the untrained start: ~10)
COMMON = ["--set", f"training.max_steps={STEPS}", "--set", f"training.save_every={SAVE_EVERY}",
          "--set", "training.eval_every=10", "--set", "data.eval_examples=30", "--set", "data.test_examples=50",
          "--overwrite"]

pytestmark = pytest.mark.slow


def _env(processes: int = 1):
    # the machine's 2 cores: one process uses both, two processes one each
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2" if processes == 1 else "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _command(out: Path, processes: int, *extra: str) -> list[str]:
    batch = GLOBAL_BATCH // processes
    args = ["-m", "lorakit.train", "--config", str(CONFIG), *COMMON, "--set", f"output.dir={out}",
            "--set", f"training.per_device_batch_size={batch}", *extra]
    if processes == 1:
        return [sys.executable, *args]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
              str(ROOT / "configs" / "accelerate" / "cpu-2proc.yaml"), "--num_processes", str(processes)]
    return [*launch, *args]


def _run(out: Path, processes: int = 1, *extra: str) -> tuple[dict, str]:
    proc = subprocess.run(_command(out, processes, *extra), env=_env(processes), capture_output=True, text=True,
                          timeout=900, cwd=out.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text()), proc.stdout + proc.stderr


def _adapter(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "adapter" / "adapter_model.safetensors")


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe") / "one-process"
    metrics, log = _run(out)
    return out, metrics, log


def test_one_process_run_trains_saves_and_reports(single):
    out, metrics, log = single
    assert metrics["steps"] == STEPS and metrics["processes"] == 1 and metrics["global_batch_size"] == GLOBAL_BATCH
    assert metrics["eval_loss"] < LEARNED_EVAL_LOSS, metrics
    assert metrics["exact_match"] is not None and metrics["test_examples"] == 50, metrics
    assert (out / "adapter" / "adapter_config.json").exists() and not (out / "adapter.tmp").exists()
    assert log.count("lorakit-train: ") == 1 and "exact_match=" in log.splitlines()[-1] + log


def test_two_processes_match_one_at_the_same_global_batch(single, tmp_path_factory):
    out1, one, _ = single
    out2 = tmp_path_factory.mktemp("recipe") / "two-processes"
    two, log = _run(out2, 2)
    assert two["processes"] == 2 and two["global_batch_size"] == GLOBAL_BATCH and two["steps"] == STEPS
    assert log.count("lorakit-train: ") == 1, "metrics must be logged once, by the main process"
    assert log.count("'train_runtime'") <= 1
    diff = _max_diff(_adapter(out1), _adapter(out2))
    print(f"one process EM {one['exact_match']:.3f}, two processes EM {two['exact_match']:.3f}, "
          f"adapter max |diff| {diff:.2e}, seconds {one['seconds']} vs {two['seconds']}")
    assert abs(two["exact_match"] - one["exact_match"]) <= 0.02, (one["exact_match"], two["exact_match"])
    assert abs(two["eval_loss"] - one["eval_loss"]) <= 0.02, (one["eval_loss"], two["eval_loss"])
    # same seed, same data order, same initial adapter: only the all-reduce's float sums differ
    assert diff < 1e-2, f"the two runs drifted apart (max |diff| {diff:.2e}): different data or init?"


def test_killed_run_resumes_to_the_same_adapter(single, tmp_path_factory):
    out1, one, _ = single
    out = tmp_path_factory.mktemp("recipe") / "killed"
    proc = subprocess.Popen(_command(out, 1), env=_env(), cwd=out.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    target = out / f"checkpoint-{2 * SAVE_EVERY}" / "trainer_state.json"
    deadline = time.time() + 600
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert target.exists(), "the run ended before its second checkpoint: nothing was interrupted"
    assert not (out / "adapter").exists(), "a killed run must not leave an adapter behind"
    resumed, log = _run(out, 1, "--resume")
    assert f"resuming from {out / f'checkpoint-{2 * SAVE_EVERY}'}" in log
    assert resumed["steps"] == STEPS
    assert abs(resumed["exact_match"] - one["exact_match"]) <= 0.02, (one["exact_match"], resumed["exact_match"])
    assert abs(resumed["eval_loss"] - one["eval_loss"]) <= 0.02, (one["eval_loss"], resumed["eval_loss"])
    assert _max_diff(_adapter(out1), _adapter(out)) < 1e-3, "resuming should retrace the uninterrupted run"


def test_qlora_recipe_keeps_float32_adapters_on_the_cpu(tmp_path):
    # TRL casts a quantized model's adapters to bfloat16; on a CPU the recipe puts float32 back
    out = tmp_path / "qlora"
    cmd = [sys.executable, "-m", "lorakit.train", "--config", str(ROOT / "configs" / "qlora-tiny.yaml"),
           "--set", "training.max_steps=2", "--set", "training.eval_every=0", "--set", "training.save_every=0",
           "--set", "data.test_examples=0", "--set", f"output.dir={out}"]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {t.dtype for t in _adapter(out).values()} == {torch.float32}
