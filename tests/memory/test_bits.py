"""lorakit.memory.bits: bits per parameter (QLoRA §3), what double quantization stores, and bytes per format."""
import logging

import pytest
import torch

from lorakit.memory.bits import BITS_PER_PARAM, bits_per_parameter, format_bits, format_bytes, model_bytes
from lorakit.quant import quantize_4bit

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
    from lorakit.memory.bits import BITS_PER_PARAM
    assert BITS_PER_PARAM["nf4"] == bits_per_parameter(64) and BITS_PER_PARAM["nf4-dq"] == bits_per_parameter(64, True)


def test_bits_per_param_table():
    # the arithmetic lives in lorakit.memory.bits (the tests above); the table uses QLoRA's numbers
    assert BITS_PER_PARAM["nf4"] == 4.5
    assert BITS_PER_PARAM["nf4"] - BITS_PER_PARAM["nf4-dq"] == pytest.approx(0.373, abs=1e-3)


@pytest.mark.parametrize("fmt,expected", [("fp32", 28e9), ("fp16", 14e9), ("int8", 7e9), ("nf4", 3.9375e9), (4, 3.5e9)])
def test_model_bytes(fmt, expected):
    assert model_bytes(7_000_000_000, fmt) == pytest.approx(expected)


def test_qlora_double_quant_saving_on_65b():
    """QLoRA §3: double quantisation saves about 3 GB on a 65B model."""
    saved = model_bytes(65e9, "nf4") - model_bytes(65e9, "nf4-dq")
    assert format_bytes(saved) == "3.0 GB"


def test_bits_per_param_rejects_unknown():
    with pytest.raises(ValueError, match="nf4"):
        format_bits("int3")
    assert format_bits(2.5) == 2.5


@pytest.mark.parametrize("n,text", [(350e9, "350 GB"), (37_748_736, "37.7 MB"), (13.48e9, "13.5 GB"), (512, "512 B")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text
