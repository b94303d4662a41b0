"""lorakit.quant.blockwise: absmax per block and nearest-code rounding, bitsandbytes' tie rule."""
import pytest
import torch

from lorakit.quant import (blockwise_absmax, dequantize_blockwise, fp4_code, get_code, nearest_code,
                           nf4_code, quantize_blockwise)


def test_absmax_is_per_contiguous_block_of_the_flattened_tensor():
    w = torch.randn(4, 32, generator=torch.Generator().manual_seed(0))
    expected = w.reshape(-1, 64).abs().max(dim=1).values
    assert torch.equal(blockwise_absmax(w, 64), expected)
    assert blockwise_absmax(w, 16).shape == (8,)


@pytest.mark.parametrize("name", ["nf4", "fp4", "int4"])
def test_nearest_code_is_the_nearest_value(name):
    code = get_code(name)
    x = torch.rand(20_000, generator=torch.Generator().manual_seed(1)) * 2 - 1
    got = code[nearest_code(x, code)]
    best = (x[:, None] - code[None]).abs().min(dim=1).values
    torch.testing.assert_close((x - got).abs(), best, atol=1e-7, rtol=0)


def test_ties_go_to_the_lower_value():
    code = nf4_code()
    midpoints = (code[:-1] + code[1:]) / 2
    assert torch.equal(nearest_code(midpoints, code), torch.arange(15))


def test_fp4_zero_side_matches_bitsandbytes_order():
    # the code has 0 twice (patterns 0b0000 and 0b1000): values just above 0 take 0b1000
    code = fp4_code()
    idx = nearest_code(torch.tensor([-1e-4, 0.0, 1e-4]), code)
    assert idx.tolist() == [0, 0, 8]


def test_round_trip_error_is_at_most_half_a_step():
    w = torch.randn(8, 64, generator=torch.Generator().manual_seed(2))
    code = nf4_code()
    idx, absmax = quantize_blockwise(w, code, 64)
    assert idx.dtype == torch.uint8 and idx.shape == (512,) and absmax.shape == (8,)
    back = dequantize_blockwise(idx, absmax, code, 64).reshape(w.shape)
    largest_gap = code.diff().max()
    assert ((w - back).abs() <= largest_gap / 2 * absmax.repeat_interleave(64).reshape(w.shape) + 1e-6).all()


def test_all_zero_block_stays_zero():
    w = torch.zeros(2, 64)
    w[1] = torch.linspace(-1, 1, 64)
    idx, absmax = quantize_blockwise(w, nf4_code(), 64)
    assert absmax[0] == 0 and torch.all(idx[:64] == 7)
    assert torch.all(dequantize_blockwise(idx, absmax, nf4_code(), 64)[:64] == 0)


@pytest.mark.parametrize("blocksize", [48, 1, 0])
def test_bad_blocksize(blocksize):
    with pytest.raises(ValueError, match="power of two"):
        quantize_blockwise(torch.randn(64), nf4_code(), blocksize)


def test_partial_last_block_has_its_own_absmax():
    w = torch.randn(3, 50, generator=torch.Generator().manual_seed(3))   # 150 = 2 * 64 + 22
    absmax = blockwise_absmax(w, 64)
    flat = w.reshape(-1)
    assert absmax.shape == (3,)
    assert torch.equal(absmax, torch.stack([flat[:64].abs().max(), flat[64:128].abs().max(), flat[128:].abs().max()]))
    idx, absmax2 = quantize_blockwise(w, nf4_code(), 64)
    assert idx.shape == (150,) and torch.equal(absmax, absmax2)
    back = dequantize_blockwise(idx, absmax, nf4_code(), 64)
    assert torch.equal(back[128:], nf4_code()[idx[128:].long()] * absmax[2])
    assert blockwise_absmax(torch.randn(10), 64).shape == (1,)  # smaller than one block


def test_empty_tensor():
    with pytest.raises(ValueError, match="empty"):
        quantize_blockwise(torch.zeros(0), nf4_code(), 64)


def test_blocksize_must_be_an_int():
    with pytest.raises(TypeError, match="blocksize must be an int"):
        blockwise_absmax(torch.randn(64), 64.0)


@pytest.mark.parametrize("dtype", [torch.int32, torch.float64, torch.bool])
def test_non_float_input(dtype):
    with pytest.raises(TypeError, match="float32, float16 or bfloat16"):
        quantize_blockwise(torch.ones(64, dtype=dtype), nf4_code(), 64)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights(bad):
    w = torch.randn(256)
    w[130] = bad
    with pytest.raises(ValueError, match=r"NaN or infinite .* block 2"):
        quantize_blockwise(w, nf4_code(), 64)


def test_absmax_count_must_match():
    with pytest.raises(ValueError, match="need 2 absmax values"):
        dequantize_blockwise(torch.zeros(128, dtype=torch.uint8), torch.ones(3), nf4_code(), 64)
    with pytest.raises(ValueError, match="need 3 absmax values"):
        dequantize_blockwise(torch.zeros(129, dtype=torch.uint8), torch.ones(2), nf4_code(), 64)
