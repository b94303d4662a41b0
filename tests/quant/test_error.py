"""lorakit.quant.error: round-trip MSE and code usage."""
import pytest
import torch

from lorakit.quant import code_usage, fake_quantize, fp4_code, quantization_mse


def test_mse_is_the_round_trip_error():
    w = torch.randn(64, 128, generator=torch.Generator().manual_seed(0))
    expected = (fake_quantize(w, "fp4") - w).pow(2).mean().item()
    assert quantization_mse(w, "fp4") == pytest.approx(expected, rel=1e-6)


def test_mse_pools_several_tensors_by_size():
    a, b = torch.randn(64, 64), torch.randn(64, 256) * 3
    pooled = quantization_mse([a, b])
    weighted = (quantization_mse(a) * a.numel() + quantization_mse(b) * b.numel()) / (a.numel() + b.numel())
    assert pooled == pytest.approx(weighted, rel=1e-6)
    with pytest.raises(ValueError, match="at least one tensor"):
        quantization_mse([])


def test_nf4_beats_int4_on_normal_data():
    w = torch.randn(256, 256, generator=torch.Generator().manual_seed(1))
    assert quantization_mse(w, "nf4") < quantization_mse(w, "int4")


def test_smaller_blocks_have_smaller_error():
    w = torch.randn(256, 256, generator=torch.Generator().manual_seed(2))
    errors = [quantization_mse(w, "nf4", b) for b in (32, 256, 4096)]
    assert errors == sorted(errors)


def test_code_usage_sums_to_one_and_orders_by_value():
    w = torch.randn(128, 64, generator=torch.Generator().manual_seed(3))
    usage = code_usage(w, "fp4")
    assert usage.shape == (16,) and usage.sum().item() == pytest.approx(1.0)
    by_value = code_usage(w, "fp4", by_value=True)
    assert torch.equal(by_value, usage[torch.argsort(fp4_code(), stable=True)])
