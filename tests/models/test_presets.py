"""Presets: chosen from the model and the hardware, scaled from CPU numbers, overridable."""
import pytest
import torch

from lorakit.models import presets


def test_shipped_model_gets_the_cpu_preset(monkeypatch):
    monkeypatch.delenv(presets.PRESET_ENV, raising=False)
    monkeypatch.delenv("LORAKIT_MODEL_ID", raising=False)
    p = presets.resolve(None, quiet=True)
    assert p.name == "cpu" and p.steps(300) == 300 and p.n_eval(200) == 200


@pytest.mark.parametrize("capability, expected", [((7, 5), "t4"), ((8, 0), "gpu")])
def test_hub_model_on_a_gpu(monkeypatch, capability, expected):
    monkeypatch.delenv(presets.PRESET_ENV, raising=False)
    monkeypatch.delenv("LORAKIT_DTYPE", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    assert presets.choose(shipped_model=False, device=torch.device("cuda", 0)) == expected
    assert presets.choose(shipped_model=False, device=torch.device("cpu")) == "cpu-hub"


def test_env_forces_a_preset_and_sim_is_small(monkeypatch):
    monkeypatch.setenv(presets.PRESET_ENV, "sim")
    p = presets.resolve(None, quiet=True)
    assert p.name == "sim" and p.steps(300) < 10 and p.n_eval(200) < 20 and p.seconds(60) < 10
    assert p.steps(10) == 2  # never below the minimum, so every code path still runs


def test_overrides_and_errors(monkeypatch):
    monkeypatch.delenv(presets.PRESET_ENV, raising=False)
    assert presets.resolve(None, quiet=True, lora_lr=1e-4).lora_lr == 1e-4
    with pytest.raises(ValueError, match="unknown preset field"):
        presets.get("cpu", lora_rate=1e-4)
    with pytest.raises(ValueError, match="unknown preset"):
        presets.get("tpu")
    monkeypatch.setenv(presets.PRESET_ENV, "nope")
    with pytest.raises(ValueError, match="LORAKIT_PRESET"):
        presets.choose(shipped_model=True)
