"""lorakit.quant.quantize against bitsandbytes' CPU quantize_4bit / dequantize_4bit, byte for byte.

bitsandbytes 0.50's CPU ``dequantize_4bit`` is wrong when a row is not a whole number of blocks
(see ``lorakit.quant.quantize``'s docstring and ``docs/upstream/``). So the tests that use its
*dequantized values* as the oracle use only shapes where it is right: 1-D tensors (one row) and
last dimensions that are multiples of the block size (``_bnb_decodes_right``). Bytes and absmax are
compared on every shape, and ``test_bitsandbytes_cpu_dequantize_is_still_wrong_on_short_rows`` pins
the fault itself.
"""
import dataclasses
import logging
import os

import pytest
import torch

from lorakit.quant import QuantState, dequantize_4bit, get_code, nf4_code, quantize_4bit, unpack_4bit

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes  # noqa: E402
import bitsandbytes.functional as bnb_f  # noqa: E402

SHAPES = [(64, 64), (128, 512), (3, 1024), (4096,), (2, 3, 256), (512, 2048)]
# sizes that are not multiples of 64: odd, prime, one value, a partial block after many full ones
PARTIAL_SHAPES = [(100,), (3, 100), (5, 7), (101,), (1,), (4, 130), (17, 31), (7, 1001)]


def _weights(shape, seed, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=gen) * 0.02
    w.view(-1)[::97] *= 8  # a few outliers, as in real weights
    return w.to(dtype)


def _bnb(w, code, blocksize, double_quant=False):
    return bnb_f.quantize_4bit(w, blocksize=blocksize, quant_type=code, compress_statistics=double_quant)


def _bnb_decodes_right(shape, blocksize):
    """Where bitsandbytes 0.50's CPU dequantize_4bit is right: one row, or rows of whole blocks."""
    return len(shape) == 1 or shape[-1] % blocksize == 0


def _by_hand(packed, absmax, code, blocksize, numel):
    """First principles: value i is code[index i] * absmax[i // blocksize], i in flattened order."""
    index = unpack_4bit(packed.reshape(-1))[:numel].long()
    return code[index] * absmax.repeat_interleave(blocksize)[:numel]


def _assert_state_equals_bnb(packed, state, ref_packed, ref):
    assert torch.equal(packed, ref_packed.reshape(-1)), f"{int((packed != ref_packed.reshape(-1)).sum())} bytes differ"
    assert state.shape == ref.shape and state.dtype == ref.dtype and state.blocksize == ref.blocksize
    assert torch.equal(state.code, ref.code) and state.quant_type == ref.quant_type
    assert state.nested == ref.nested
    if state.nested:
        assert torch.equal(state.absmax.codes, ref.absmax), "8-bit codes differ"
        assert torch.equal(state.absmax.absmax, ref.state2.absmax) and torch.equal(state.absmax.offset, ref.offset)
        assert state.absmax.blocksize == ref.state2.blocksize
    else:
        assert torch.equal(state.absmax, ref.absmax)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bytes_and_absmax_equal_bitsandbytes(code, shape, seed):
    w = _weights(shape, seed)
    packed, state = quantize_4bit(w, code, 64)
    ref_packed, ref = _bnb(w, code, 64)
    assert packed.shape == (w.numel() // 2,) and state.absmax.shape == (w.numel() // 64,)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)
    assert _bnb_decodes_right(shape, 64)
    theirs = bnb_f.dequantize_4bit(ref_packed, ref).reshape(shape)  # bnb's CPU kernel returns 1-D as (1, n)
    torch.testing.assert_close(dequantize_4bit(packed, state), theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("double_quant", [False, True], ids=["plain", "double_quant"])
@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("blocksize", [32, 64, 256])
@pytest.mark.parametrize("shape", PARTIAL_SHAPES, ids=str)
def test_partial_last_block_equals_bitsandbytes(shape, blocksize, code, double_quant):
    w = _weights(shape, seed=sum(shape))
    numel = w.numel()
    assert numel % blocksize  # the point of these shapes: the last block is partial
    packed, state = quantize_4bit(w, code, blocksize, double_quant=double_quant)
    ref_packed, ref = _bnb(w, code, blocksize, double_quant)
    assert packed.shape == ((numel + 1) // 2,)            # an odd count is padded with one index
    assert state.scales().shape == (-(-numel // blocksize),)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)
    torch.testing.assert_close(dequantize_4bit(packed, state).reshape(-1),
                               _by_hand(packed, state.scales(), state.code, blocksize, numel), atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_partial_last_block_half_precision(dtype):
    w = _weights((3, 100), seed=7, dtype=dtype)
    packed, state = quantize_4bit(w, "nf4", 64, double_quant=True)
    ref_packed, ref = _bnb(w, "nf4", 64, True)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)
    assert dequantize_4bit(packed, state).dtype == dtype


@pytest.mark.parametrize("code", ["nf4", "fp4"])
def test_partial_block_is_divided_not_multiplied(code):
    # values that are code midpoints times a non-power-of-two absmax: x / a and x * (1 / a) differ
    # in the last bit on some of them, and bitsandbytes divides in the partial block only
    gen = torch.Generator().manual_seed(0)
    values = get_code(code).sort().values
    midpoints = (values[:-1] + values[1:]) / 2
    absmax = 2.5000340938568115
    tail = torch.cat([torch.tensor([absmax]), midpoints[torch.randint(0, 15, (99,), generator=gen)] * absmax])
    w = torch.cat([torch.randn(128, generator=gen), tail])  # one full block, then a partial one of 100
    packed, state = quantize_4bit(w, code, 128)
    assert torch.equal(state.absmax[1], torch.tensor(absmax))
    ref_packed, ref = _bnb(w, code, 128)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)


def test_all_zero_partial_block_gets_bitsandbytes_tiny_absmax():
    w = torch.zeros(100)
    w[:64] = torch.randn(64, generator=torch.Generator().manual_seed(1))
    packed, state = quantize_4bit(w, "nf4", 64)
    ref_packed, ref = _bnb(w, "nf4", 64)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)
    assert 0 < state.absmax[1] < 1.2e-38       # bitsandbytes clamps a partial block's absmax to 1e-38
    assert torch.all(dequantize_4bit(packed, state)[64:] == 0)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("blocksize", [32, 128, 256, 512, 1024, 2048, 4096])
def test_every_bitsandbytes_blocksize(code, blocksize):
    w = _weights((64, 1024), seed=blocksize)
    packed, state = quantize_4bit(w, code, blocksize)
    ref_packed, ref = _bnb(w, code, blocksize)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)
    if blocksize < 2048:  # bnb dequantizes larger blocks through torch.compile: ~20 s to compile
        assert _bnb_decodes_right(w.shape, blocksize)
        torch.testing.assert_close(dequantize_4bit(packed, state), bnb_f.dequantize_4bit(ref_packed, ref),
                                   atol=1e-6, rtol=0)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(code, dtype):
    w = _weights((64, 256), seed=3, dtype=dtype)
    packed, state = quantize_4bit(w, code, 64)
    ref_packed, ref = _bnb(w, code, 64)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)
    ours = dequantize_4bit(packed, state)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, bnb_f.dequantize_4bit(ref_packed, ref), atol=1e-6, rtol=0)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
def test_values_exactly_on_midpoints_round_like_bitsandbytes(code):
    # every block holds +-1 (so its absmax is 1 and scaling is exact) and then the midpoints
    # between neighbouring code values, the only place where a tie rule shows
    values = get_code(code).sort().values
    midpoints = (values[:-1] + values[1:]) / 2
    block = torch.cat([torch.tensor([1.0]), midpoints, torch.tensor([-1.0]), -midpoints,
                       torch.tensor([0.0, 1e-4, -1e-4, 2e-3, -2e-3])])
    w = torch.cat([block, torch.zeros(64 - len(block))]).repeat(4)
    packed, state = quantize_4bit(w, code, 64)
    _assert_state_equals_bnb(packed, state, *_bnb(w, code, 64))


# ---------------------------------------------------------------- bitsandbytes' known faults, pinned

AVX512 = torch.backends.cpu.get_cpu_capability() == "AVX512"
# The faulty AVX-512 branch is compiled only into bitsandbytes' CPU build; with a CUDA GPU it loads a
# CUDA library whose CPU kernel is scalar (and right), whatever the CPU.
_NATIVE = os.path.basename(getattr(getattr(bitsandbytes.cextension.lib, "_lib", None), "_name", "") or "")
AVX512_KERNEL = AVX512 and _NATIVE.startswith("libbitsandbytes_cpu")
UPDATE = ("update notebook 03's section 'When the reference is wrong', the list of differences in "
          "lorakit/quant/quantize.py's docstring, docs/upstream/ and this test")


@pytest.mark.skipif(not AVX512_KERNEL, reason="bitsandbytes' CPU dequantize_4bit takes its (correct) scalar "
                   "path without AVX-512 or outside its CPU build; the fault is in the CPU build's AVX-512 path")
@pytest.mark.parametrize("shape,blocksize", [((64, 64), 128), ((32, 128), 256), ((16, 96), 64)], ids=str)
def test_bitsandbytes_cpu_dequantize_is_still_wrong_on_short_rows(shape, blocksize):
    """Fails the day bitsandbytes decodes rows that are not a whole number of blocks correctly."""
    w = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.1
    ref_packed, ref = _bnb(w, "nf4", blocksize)
    packed, state = quantize_4bit(w, "nf4", blocksize)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)           # its bytes and absmax are right
    right = _by_hand(ref_packed, ref.absmax, ref.code, blocksize, w.numel()).reshape(shape)
    torch.testing.assert_close(dequantize_4bit(packed, state), right, atol=0, rtol=0)  # ours is right
    theirs = bnb_f.dequantize_4bit(ref_packed, ref)
    # its AVX-512 kernel reads the scale of (row, col) at absmax[row * (n // blocksize) + col // blocksize]
    rows, n = shape
    col = torch.arange(n)
    wrong_index = (torch.arange(rows)[:, None] * (n // blocksize) + col // blocksize).reshape(-1)
    index = unpack_4bit(ref_packed.reshape(-1)).long()
    predicted = (ref.code[index] * ref.absmax[wrong_index]).reshape(shape)
    assert not torch.allclose(theirs, right, atol=1e-3), (
        f"bitsandbytes {bitsandbytes.__version__} now dequantizes shape {shape} in blocks of {blocksize} "
        f"correctly on the CPU: {UPDATE}")
    assert torch.equal(theirs, predicted), (
        f"bitsandbytes {bitsandbytes.__version__}'s CPU dequantize_4bit is still wrong on shape {shape}, but "
        f"not in the way described: {UPDATE}")


def test_bitsandbytes_cpu_dequantize_returns_1d_as_a_row():
    w = _weights((256,), seed=5)
    ref_packed, ref = _bnb(w, "nf4", 64)
    packed, state = quantize_4bit(w, "nf4", 64)
    assert dequantize_4bit(packed, state).shape == (256,)
    assert bnb_f.dequantize_4bit(ref_packed, ref).shape == (1, 256), (
        f"bitsandbytes {bitsandbytes.__version__} now keeps a 1-D shape: {UPDATE}")


# ---------------------------------------------------------------- QuantState and the other code books


def test_quant_state_carries_everything_dequantize_needs():
    w = _weights((4, 96), seed=6, dtype=torch.bfloat16)
    packed, state = quantize_4bit(w, "fp4", 32)
    assert isinstance(state, QuantState) and not state.nested
    assert (state.shape, state.dtype, state.blocksize, state.quant_type) == (w.shape, torch.bfloat16, 32, "fp4")
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.blocksize = 64
    assert state.nbits() == 32 * 12
    moved = state.to("cpu")
    assert torch.equal(dequantize_4bit(packed, moved), dequantize_4bit(packed, state))
    _, nested = quantize_4bit(w, "fp4", 32, double_quant=True)
    assert nested.nested and nested.nbits() == 8 * 12 + 32 + 32
    assert (nested.scales() - state.absmax).abs().max() < 0.01 * state.absmax.max()  # the 8-bit round trip


@pytest.mark.parametrize("double_quant", [False, True])
@pytest.mark.parametrize("shape,blocksize,dtype", [((16, 96), 64, torch.float32), ((64, 64), 128, torch.float16),
                                                   ((3, 100), 64, torch.bfloat16), ((512, 512), 64, torch.float32)],
                         ids=str)
def test_quant_state_from_bitsandbytes_decodes_its_bytes_by_flat_block(shape, blocksize, dtype, double_quant):
    w = _weights(shape, seed=8, dtype=dtype)
    ref_packed, ref = _bnb(w, "nf4", blocksize, double_quant)
    state = QuantState.from_bitsandbytes(ref)
    packed, ours = quantize_4bit(w, "nf4", blocksize, double_quant=double_quant)
    _assert_state_equals_bnb(packed, state, ref_packed, ref)          # every field carried over
    scales = ours.scales()                                            # first principles, from lorakit's own state
    right = _by_hand(packed, scales, ours.code, blocksize, w.numel()).reshape(shape).to(dtype)
    assert torch.equal(dequantize_4bit(ref_packed, state), right)
    if _bnb_decodes_right(shape, blocksize):
        torch.testing.assert_close(dequantize_4bit(ref_packed, state), bnb_f.dequantize_4bit(ref_packed, ref),
                                   atol=1e-6, rtol=0)


def test_quant_state_from_a_linear4bit_weight():
    """bnb.nn.Linear4bit's bytes and state, decoded through lorakit, give the layer's own weights back."""
    gen = torch.Generator().manual_seed(9)
    w = torch.randn(32, 96, generator=gen) * torch.rand(32, 1, generator=gen) * 0.2   # rows of different scales
    layer = bitsandbytes.nn.Linear4bit(96, 32, bias=False, quant_type="nf4", compress_statistics=True,
                                       compute_dtype=torch.float32)
    layer.load_state_dict({"weight": w})
    layer = layer.to("cpu")                                            # quantizes
    decoded = dequantize_4bit(layer.weight.data, QuantState.from_bitsandbytes(layer.weight.quant_state))
    packed, state = quantize_4bit(w, "nf4", 64, double_quant=True)
    assert torch.equal(decoded, dequantize_4bit(packed, state))


def test_quant_state_from_bitsandbytes_rejects_other_objects():
    packed, state = quantize_4bit(torch.randn(64))
    with pytest.raises(TypeError, match="bitsandbytes.functional.QuantState"):
        QuantState.from_bitsandbytes(state)
    with pytest.raises(TypeError, match="no absmax"):
        QuantState.from_bitsandbytes(object())
    _, ref = _bnb(torch.randn(64), "nf4", 64)
    with pytest.raises(TypeError, match="QuantState.from_bitsandbytes"):
        dequantize_4bit(packed, ref)


def test_quant_state_names_a_code_given_as_a_tensor():
    assert quantize_4bit(torch.randn(64), nf4_code())[1].quant_type == "nf4"
    custom = torch.linspace(-1, 1, 16)
    packed, state = quantize_4bit(torch.randn(64), custom)
    assert state.quant_type == "custom" and torch.equal(state.code, custom)


def test_int4_is_round_to_nearest_integer_level():
    w = _weights((16, 64), seed=4)
    packed, state = quantize_4bit(w, "int4", 64)
    back = dequantize_4bit(packed, state)
    scale = state.absmax.repeat_interleave(64).reshape(w.shape)
    expected = torch.round(w / scale * 7) / 7 * scale
    torch.testing.assert_close(back, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(code="nf3"), ValueError, "unknown code 'nf3'"),
    (dict(blocksize=100), ValueError, "power of two"),
    (dict(blocksize=64.0), TypeError, "must be an int"),
])
def test_quantize_rejects(kwargs, error, match):
    with pytest.raises(error, match=match):
        quantize_4bit(torch.randn(64, 64), **kwargs)


def test_quantize_rejects_integer_empty_and_non_finite_weights():
    with pytest.raises(TypeError, match="float32, float16 or bfloat16"):
        quantize_4bit(torch.ones(64, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        quantize_4bit([0.0] * 64)
    with pytest.raises(ValueError, match="empty"):
        quantize_4bit(torch.zeros(0))
    w = torch.randn(64, 64)
    w[5, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantize_4bit(w)


def test_dequantize_rejects_mismatches():
    packed, state = quantize_4bit(torch.randn(64, 64))
    with pytest.raises(ValueError, match="need 2048 packed bytes"):
        dequantize_4bit(packed[:-1], state)
    with pytest.raises(TypeError, match="uint8"):
        dequantize_4bit(packed.int(), state)
    with pytest.raises(TypeError, match="QuantState"):
        dequantize_4bit(packed, state.absmax)
    with pytest.raises(ValueError, match="needs 64 absmax values, got 63"):
        dataclasses.replace(state, absmax=state.absmax[:-1])
