"""lorakit.quant.double_quant against bitsandbytes' nested QuantState (compress_statistics=True)."""
import logging

import pytest
import torch

from lorakit.quant import (DoubleQuantState, dequantize_4bit, double_dequantize, double_quantize,
                           dynamic_code, quantize_4bit)
from lorakit.quant.double_quant import dequantize_8bit, quantize_8bit

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes.functional as bnb_f  # noqa: E402

# absmax counts: 64 (one partial block), 256 (one full), 1024, 300 (a partial last block), 16384
SHAPES = [(64, 64), (128, 128), (128, 512), (3, 6400), (1024, 1024)]


@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("seed", [0, 1])
def test_nested_state_equals_bitsandbytes(code, shape, seed):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.02
    packed, plain = quantize_4bit(w, code, 64)
    state = double_quantize(plain.absmax)
    ref_packed, ref = bnb_f.quantize_4bit(w, blocksize=64, quant_type=code, compress_statistics=True)
    assert ref.nested
    assert torch.equal(packed, ref_packed.reshape(-1))
    assert torch.equal(state.codes, ref.absmax), f"{int((state.codes != ref.absmax).sum())} 8-bit codes differ"
    assert torch.equal(state.absmax, ref.state2.absmax)
    assert torch.equal(state.offset, ref.offset)
    assert state.blocksize == ref.state2.blocksize == 256
    assert torch.equal(ref.state2.code, dynamic_code())
    # both levels back: the scales, then the weights
    torch.testing.assert_close(double_dequantize(state),
                               bnb_f.dequantize_blockwise(ref.absmax, ref.state2) + ref.offset, atol=0, rtol=0)
    # quantize_4bit(..., double_quant=True) nests the same state; shapes have rows of whole blocks,
    # where bitsandbytes' CPU dequantize is right (see test_quantize.py)
    packed_dq, nested = quantize_4bit(w, code, 64, double_quant=True)
    assert torch.equal(packed_dq, packed) and torch.equal(nested.absmax.codes, state.codes)
    torch.testing.assert_close(dequantize_4bit(packed_dq, nested), bnb_f.dequantize_4bit(ref_packed, ref),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n", [1, 255, 257, 5000])
def test_8bit_blockwise_equals_bitsandbytes(seed, n):
    # bitsandbytes' CPU 8-bit quantizer rounds through a 65,536-bin look-up table; on ~0.2% of
    # values that differs from the exactly nearest code, so this only passes if we copy it
    x = torch.randn(n, generator=torch.Generator().manual_seed(seed)) * 3 + 0.5
    codes, absmax = quantize_8bit(x, 256)
    ref_codes, ref_state = bnb_f.quantize_blockwise(x, blocksize=256)
    assert torch.equal(codes, ref_codes) and torch.equal(absmax, ref_state.absmax)
    torch.testing.assert_close(dequantize_8bit(codes, absmax, 256),
                               bnb_f.dequantize_blockwise(ref_codes, ref_state), atol=0, rtol=0)


def test_8bit_zero_block_gets_code_zero():
    x = torch.zeros(512)
    x[300] = 1.0
    codes, absmax = quantize_8bit(x, 256)
    ref_codes, ref_state = bnb_f.quantize_blockwise(x, blocksize=256)
    assert torch.equal(codes, ref_codes) and torch.equal(absmax, ref_state.absmax)
    assert absmax[0] == 0 and torch.all(codes[:256] == 0)


def test_double_quant_error_is_small():
    absmax = torch.rand(4096, generator=torch.Generator().manual_seed(5)) * 0.1 + 0.05
    back = double_dequantize(double_quantize(absmax))
    assert (back - absmax).abs().max() < 0.01 * absmax.max()


def test_nbits_counts_codes_scales_and_offset():
    state = double_quantize(torch.rand(1000) + 0.1)
    assert isinstance(state, DoubleQuantState)
    assert state.nbits() == 8 * 1000 + 32 * 4 + 32  # ceil(1000 / 256) = 4 second-level scales


@pytest.mark.parametrize("bad,error", [
    (torch.rand(8, 8), TypeError), (torch.rand(64).double(), TypeError), ([0.1, 0.2], TypeError),
    (torch.tensor([0.1, float("nan")]), ValueError), (torch.tensor([]), ValueError),
])
def test_double_quantize_rejects(bad, error):
    with pytest.raises(error):
        double_quantize(bad)


@pytest.mark.parametrize("blocksize", [0, 100, 256.0, True])
def test_double_quantize_rejects_blocksize(blocksize):
    with pytest.raises(ValueError, match="power of two"):
        double_quantize(torch.rand(64), blocksize)
