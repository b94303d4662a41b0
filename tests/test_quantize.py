"""lorakit.quant.quantize against bitsandbytes' CPU quantize_4bit / dequantize_4bit, byte for byte."""
import logging

import pytest
import torch

from lorakit.quant import dequantize_4bit, get_code, quantize_4bit

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes.functional as bnb_f  # noqa: E402

SHAPES = [(64, 64), (128, 512), (3, 1024), (4096,), (2, 3, 256), (512, 2048)]


def _weights(shape, seed, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=gen) * 0.02
    w.view(-1)[::97] *= 8  # a few outliers, as in real weights
    return w.to(dtype)


def _bnb(w, code, blocksize):
    packed, state = bnb_f.quantize_4bit(w, blocksize=blocksize, quant_type=code)  # quant_type explicitly
    return packed, state


@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bytes_and_absmax_equal_bitsandbytes(code, shape, seed):
    w = _weights(shape, seed)
    packed, absmax = quantize_4bit(w, code, 64)
    ref_packed, ref_state = _bnb(w, code, 64)
    assert packed.shape == (w.numel() // 2,) and absmax.shape == (w.numel() // 64,)
    assert torch.equal(packed, ref_packed.reshape(-1)), f"{int((packed != ref_packed.reshape(-1)).sum())} bytes differ"
    assert torch.equal(absmax, ref_state.absmax)
    ours = dequantize_4bit(packed, absmax, shape, code, 64)
    theirs = bnb_f.dequantize_4bit(ref_packed, ref_state).reshape(shape)  # bnb's CPU kernel returns 1-D as (1, n)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("blocksize", [32, 128, 256, 512, 1024, 2048, 4096])
def test_every_bitsandbytes_blocksize(code, blocksize):
    w = _weights((64, 1024), seed=blocksize)
    packed, absmax = quantize_4bit(w, code, blocksize)
    ref_packed, ref_state = _bnb(w, code, blocksize)
    assert torch.equal(packed, ref_packed.reshape(-1)) and torch.equal(absmax, ref_state.absmax)
    if blocksize < 2048:  # bnb dequantizes larger blocks through torch.compile: ~20 s to compile
        ours = dequantize_4bit(packed, absmax, w.shape, code, blocksize)
        torch.testing.assert_close(ours, bnb_f.dequantize_4bit(ref_packed, ref_state), atol=1e-6, rtol=0)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(code, dtype):
    w = _weights((64, 256), seed=3, dtype=dtype)
    packed, absmax = quantize_4bit(w, code, 64)
    ref_packed, ref_state = _bnb(w, code, 64)
    assert torch.equal(packed, ref_packed.reshape(-1)) and torch.equal(absmax, ref_state.absmax)
    ours = dequantize_4bit(packed, absmax, w.shape, code, 64, dtype=dtype)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, bnb_f.dequantize_4bit(ref_packed, ref_state), atol=1e-6, rtol=0)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
def test_values_exactly_on_midpoints_round_like_bitsandbytes(code):
    # every block holds +-1 (so its absmax is 1 and scaling is exact) and then the midpoints
    # between neighbouring code values, the only place where a tie rule shows
    values = get_code(code).sort().values
    midpoints = (values[:-1] + values[1:]) / 2
    block = torch.cat([torch.tensor([1.0]), midpoints, torch.tensor([-1.0]), -midpoints,
                       torch.tensor([0.0, 1e-4, -1e-4, 2e-3, -2e-3])])
    w = torch.cat([block, torch.zeros(64 - len(block))]).repeat(4)
    packed, absmax = quantize_4bit(w, code, 64)
    ref_packed, ref_state = _bnb(w, code, 64)
    assert torch.equal(packed, ref_packed.reshape(-1)) and torch.equal(absmax, ref_state.absmax)


def test_int4_is_round_to_nearest_integer_level():
    w = _weights((16, 64), seed=4)
    packed, absmax = quantize_4bit(w, "int4", 64)
    back = dequantize_4bit(packed, absmax, w.shape, "int4", 64)
    scale = absmax.repeat_interleave(64).reshape(w.shape)
    expected = torch.round(w / scale * 7) / 7 * scale
    torch.testing.assert_close(back, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(code="nf3"), ValueError, "unknown code 'nf3'"),
    (dict(blocksize=100), ValueError, "power of two"),
    (dict(blocksize=4096 * 2), ValueError, "multiple of blocksize"),
])
def test_quantize_rejects(kwargs, error, match):
    with pytest.raises(error, match=match):
        quantize_4bit(torch.randn(64, 64), **kwargs)


def test_quantize_rejects_integer_and_non_finite_weights():
    with pytest.raises(TypeError, match="float32, float16 or bfloat16"):
        quantize_4bit(torch.ones(64, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        quantize_4bit([0.0] * 64)
    w = torch.randn(64, 64)
    w[5, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantize_4bit(w)


def test_dequantize_rejects_mismatches():
    packed, absmax = quantize_4bit(torch.randn(64, 64))
    with pytest.raises(ValueError, match="need 2048 packed bytes"):
        dequantize_4bit(packed[:-1], absmax, (64, 64))
    with pytest.raises(ValueError, match="need 64 absmax values"):
        dequantize_4bit(packed, absmax[:-1], (64, 64))
    with pytest.raises(TypeError, match="uint8"):
        dequantize_4bit(packed.int(), absmax, (64, 64))
