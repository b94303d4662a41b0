"""lorakit.qalora.groupwise: round-trip bounds, grid-exactness, shapes and errors on bad input."""
import pytest
import torch

from lorakit.qalora import dequantize_groupwise, groupwise_bits, quantize_groupwise


def weights(shape=(6, 64), seed=0, dtype=torch.float32):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.05
    w[0, :16] = w[0, :16].abs() + 0.01   # a group with one sign only (the range is widened to 0)
    w[1, 16:32] = 0.0                    # an all-zero group
    w[2, :16] = 0.3                      # a constant group
    return w.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [8, 16, 64])
def test_round_trip_within_half_a_step(bits, group_size, dtype):
    w = weights(dtype=dtype)
    codes, scales, zeros = quantize_groupwise(w, bits, group_size)
    back = dequantize_groupwise(codes, scales, zeros)
    step = scales.repeat_interleave(group_size, dim=1)                    # (out, in)
    err = (back - w.float()).abs()
    assert (err <= step / 2 * (1 + 1e-5) + 1e-7).all(), f"max error {(err / step).max():.4f} steps"
    assert codes.dtype == torch.uint8 and int(codes.max()) <= 2 ** bits - 1
    assert scales.shape == zeros.shape == (w.shape[0], w.shape[1] // group_size)
    assert torch.equal(zeros, zeros.round()) and zeros.min() >= 0 and zeros.max() <= 2 ** bits - 1
    assert (scales > 0).all()


def test_each_group_uses_its_own_range():
    w = weights()
    q = quantize_groupwise(w, 4, 16)
    grouped = w.reshape(w.shape[0], -1, 16)
    span = grouped.amax(-1).clamp(min=0) - grouped.amin(-1).clamp(max=0)   # the range, widened to 0
    nonzero = span > 0
    torch.testing.assert_close(q.scales[nonzero], span[nonzero] / 15)
    assert not nonzero[1, 1] and (dequantize_groupwise(*q)[1, 16:32] == 0).all(), "an all-zero group stays zero"


def test_values_already_on_a_grid_come_back_exactly():
    gen = torch.Generator().manual_seed(1)
    out, n_groups, g, bits = 5, 3, 8, 3
    codes = torch.randint(0, 2 ** bits, (out, n_groups, g), generator=gen)
    codes[..., 0], codes[..., 1] = 0, 2 ** bits - 1                        # every group spans the whole grid
    zeros = torch.randint(1, 2 ** bits - 1, (out, n_groups), generator=gen).float()
    scales = torch.rand(out, n_groups, generator=gen) + 0.5
    w = (scales[..., None] * (codes - zeros[..., None])).reshape(out, -1)
    q = quantize_groupwise(w, bits, g)
    assert torch.equal(q.codes.long(), codes.reshape(out, -1))
    torch.testing.assert_close(q.scales, scales)
    assert torch.equal(q.zeros, zeros)
    torch.testing.assert_close(dequantize_groupwise(*q), w)


def test_worked_example_of_the_docstring():
    q = quantize_groupwise(torch.tensor([[-0.2, 0.05, 0.4]]), bits=2, group_size=3)
    assert q.codes.tolist() == [[0, 1, 3]] and q.zeros.tolist() == [[1.0]] and q.group_size == 3
    torch.testing.assert_close(dequantize_groupwise(*q), torch.tensor([[-0.2, 0.0, 0.4]]))


def test_more_bits_less_error_and_smaller_groups_less_error():
    w = torch.randn(64, 256, generator=torch.Generator().manual_seed(2))
    err = {(b, g): (dequantize_groupwise(*quantize_groupwise(w, b, g)) - w).pow(2).mean().item()
           for b in (2, 3, 4) for g in (32, 128)}
    assert err[2, 32] > err[3, 32] > err[4, 32]
    assert err[4, 128] > err[4, 32] and err[2, 128] > err[2, 32]


def test_dequantize_returns_the_requested_dtype():
    q = quantize_groupwise(weights(), 4, 16)
    assert dequantize_groupwise(*q, dtype=torch.float16).dtype == torch.float16


def test_storage_bits():
    assert groupwise_bits(4, 32) == 4 + (16 + 4) / 32            # float16 scale, 4-bit integer zero
    assert groupwise_bits(4, 32, zero_bits=16) == 5.0            # real-valued zero stored in float16
    assert groupwise_bits(2, 128) == 2 + 18 / 128


@pytest.mark.parametrize("bits", [1, 9, 0])
def test_bits_outside_2_to_8(bits):
    with pytest.raises(ValueError, match="from 2 to 8"):
        quantize_groupwise(weights(), bits, 16)


@pytest.mark.parametrize("bits", [4.0, True, "4"])
def test_bits_not_an_int(bits):
    with pytest.raises(TypeError, match="bits must be an int"):
        quantize_groupwise(weights(), bits, 16)


def test_group_size_must_divide_in_features():
    with pytest.raises(ValueError, match="does not divide the 64 input features"):
        quantize_groupwise(weights(), 4, 24)
    with pytest.raises(ValueError, match="positive"):
        quantize_groupwise(weights(), 4, 0)
    with pytest.raises(TypeError, match="group_size"):
        quantize_groupwise(weights(), 4, 16.0)


def test_weight_must_be_a_float_matrix():
    with pytest.raises(ValueError, match="2-D"):
        quantize_groupwise(torch.randn(64), 4, 16)
    with pytest.raises(TypeError, match="floating-point"):
        quantize_groupwise(torch.ones(4, 64, dtype=torch.int64), 4, 16)


def test_dequantize_rejects_mismatched_shapes():
    q = quantize_groupwise(weights(), 4, 16)
    with pytest.raises(ValueError, match="expected codes"):
        dequantize_groupwise(q.codes, q.scales, q.zeros[:, :2])
