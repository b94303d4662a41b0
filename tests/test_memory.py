"""lorakit.quant.memory: bits per parameter, QLoRA section 3, and what double quantization stores."""
import pytest
import torch

from lorakit.quant import bits_per_parameter, double_quantize, quantize_4bit


def test_qlora_numbers():
    assert bits_per_parameter(64) == 4.5
    assert bits_per_parameter(64, double_quant=True) == pytest.approx(4.127, abs=5e-4)
    assert bits_per_parameter(64, True) == 4 + 8 / 64 + 32 / (64 * 256)
    assert 4.5 - bits_per_parameter(64, True) == pytest.approx(0.373, abs=5e-4)


@pytest.mark.parametrize("blocksize", [32, 64, 128, 4096])
def test_formula(blocksize):
    assert bits_per_parameter(blocksize) == 4 + 32 / blocksize
    assert bits_per_parameter(blocksize, True, dq_blocksize=128) == 4 + 8 / blocksize + 32 / (blocksize * 128)


def test_matches_what_is_stored():
    w = torch.randn(1024, 1024)
    packed, absmax = quantize_4bit(w, "nf4", 64)
    plain = 8 * packed.numel() + 32 * absmax.numel()
    assert plain / w.numel() == bits_per_parameter(64)
    nested = 8 * packed.numel() + double_quantize(absmax).nbits()
    assert nested / w.numel() == pytest.approx(bits_per_parameter(64, True) + 32 / w.numel())


@pytest.mark.parametrize("bad", [0, -64, 64.0, True])
def test_rejects_bad_blocksize(bad):
    with pytest.raises(ValueError, match="positive int"):
        bits_per_parameter(bad)
