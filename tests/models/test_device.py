import pytest
import torch

from lorakit.models import device


def test_cpu_gets_fp32():
    assert device.compute_dtype("cpu") == torch.float32


@pytest.mark.parametrize("capability, expected", [
    ((7, 5), torch.float16),   # T4
    ((7, 0), torch.float16),   # V100
    ((8, 0), torch.bfloat16),  # A100
    ((8, 9), torch.bfloat16),  # L4
    ((9, 0), torch.bfloat16),  # H100
])
def test_cuda_dtype_follows_compute_capability(monkeypatch, capability, expected):
    # No GPU here: stand in for the driver's answer. is_bf16_supported() says True on a T4
    # (emulation), so the rule must not consult it.
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert device.compute_dtype(torch.device("cuda", 0)) == expected


def test_describe_names_device_and_dtype():
    text = device.describe()
    assert str(device.get_device().type) in text and "dtype" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.gpu
def test_real_gpu_dtype():
    cap = torch.cuda.get_device_capability()
    assert device.compute_dtype() == (torch.bfloat16 if cap >= (8, 0) else torch.float16)


@pytest.mark.parametrize("capability, tier", [((7, 5), "t4"), ((7, 0), "t4"), ((8, 0), "gpu"), ((9, 0), "gpu")])
def test_hardware_tier_follows_compute_capability(monkeypatch, capability, tier):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    assert device.hardware_tier(torch.device("cuda", 0)) == tier
    assert device.hardware_tier("cpu") == "cpu"


def test_dtype_override_changes_the_dtype_not_the_tier(monkeypatch):
    monkeypatch.setenv("LORAKIT_DTYPE", "float16")
    assert device.compute_dtype("cpu") == torch.float16 and device.hardware_tier("cpu") == "cpu"
    monkeypatch.setenv("LORAKIT_DTYPE", "fp8")
    with pytest.raises(ValueError, match="LORAKIT_DTYPE"):
        device.compute_dtype("cpu")
