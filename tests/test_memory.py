"""lorakit.quant.memory: bits per parameter, QLoRA section 3, and what double quantization stores."""
import logging

import pytest
import torch

from lorakit.quant import bits_per_parameter, quantize_4bit

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes.functional as bnb_f  # noqa: E402


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
    packed, state = quantize_4bit(w, "nf4", 64)
    assert (8 * packed.numel() + state.nbits()) / w.numel() == bits_per_parameter(64)
    packed, nested = quantize_4bit(w, "nf4", 64, double_quant=True)
    assert (8 * packed.numel() + nested.nbits()) / w.numel() == pytest.approx(bits_per_parameter(64, True) + 32 / w.numel())


def test_matches_what_bitsandbytes_stores():
    # an independent count: the bytes of bitsandbytes' own QuantState, 1024 x 1024 weights
    w = torch.randn(1024, 1024)
    packed, state = bnb_f.quantize_4bit(w, blocksize=64, quant_type="nf4")
    stored = packed.numel() * packed.element_size() + state.absmax.numel() * state.absmax.element_size()
    assert 8 * stored / w.numel() == bits_per_parameter(64) == 4.5
    packed, state = bnb_f.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    stored = (packed.numel() * packed.element_size() + state.absmax.numel() * state.absmax.element_size()
              + state.state2.absmax.numel() * state.state2.absmax.element_size() + state.offset.element_size())
    assert 8 * (stored - state.offset.element_size()) / w.numel() == bits_per_parameter(64, True)


@pytest.mark.parametrize("bits,blocksize,expected", [(4, 128, 4.25), (8, 256, 8.125), (4, 4096, 4 + 1 / 128)])
def test_other_widths_and_blocks(bits, blocksize, expected):
    assert bits_per_parameter(blocksize, bits=bits) == expected


@pytest.mark.parametrize("bad", [0, -64, 64.0, True])
def test_rejects_bad_blocksize(bad):
    with pytest.raises(ValueError, match="positive int"):
        bits_per_parameter(bad)
    with pytest.raises(ValueError, match="bits must be a positive int"):
        bits_per_parameter(64, bits=bad)


def test_count_takes_its_bits_from_quant():
    from lorakit.count import BITS_PER_PARAM
    assert BITS_PER_PARAM["nf4"] == bits_per_parameter(64) and BITS_PER_PARAM["nf4-dq"] == bits_per_parameter(64, True)
