"""The notebook-03 checkers accept right answers, say "not done yet" for stubs, and name the slip in wrong ones."""
import math
import re

import pytest
import torch
from scipy.stats import norm

from lorakit.exercises import set_strict
from lorakit.exercises.nb03 import (OUTLIER_BLOCKSIZES, check_absmax_in_sigmas, check_outlier_errors, check_scale_index,
                                   check_storage_bytes)


@pytest.fixture(autouse=True)
def lenient():
    set_strict(False)
    yield
    set_strict(False)


def right_absmax(blocksize):
    return norm.ppf((1 + 0.5 ** (1 / blocksize)) / 2)


def right_scale_index(row, col, n_cols, blocksize):
    return (row * n_cols + col) // blocksize


def right_storage(shape, blocksize, double_quant):
    numel = math.prod(shape)
    blocks = -(-numel // blocksize)
    scales = blocks + 4 * -(-blocks // 256) + 4 if double_quant else 4 * blocks
    return -(-numel // 2) + scales


def outlier_measure(quant_type="nf4", keep_outlier=False, relative=True, row_blocks=False, swap=False,
                    norm_ratio=False, outlier_in_whole=False, whole_denominator=False, block_over_whole=False):
    """A learner's measurement with bitsandbytes; the keywords make the usual slips."""
    import bitsandbytes.functional as bnb_f

    def outlier_errors(w, blocksize):
        kwargs = {"quant_type": quant_type} if quant_type else {}   # None: bitsandbytes' default
        packed, state = bnb_f.quantize_4bit(w, blocksize=blocksize, **kwargs)
        x = w.reshape(-1)
        err = (bnb_f.dequantize_4bit(packed, state).reshape(-1) - x) ** 2
        at = int(x.abs().argmax())
        start = ((at % w.shape[-1]) if row_blocks else at) // blocksize * blocksize
        inside = torch.zeros_like(x, dtype=torch.bool)
        inside[start:start + blocksize] = True
        keep = torch.ones_like(inside)
        keep[at] = keep_outlier

        def rel(mask, over_whole=False):
            mask = mask & keep
            below = keep if over_whole else mask
            value = (err[mask].sum() / (x[below].pow(2).sum() if relative else mask.sum())).item()
            return value ** 0.5 if norm_ratio else value

        whole = torch.ones_like(inside)
        got = (rel(inside, whole_denominator or block_over_whole), rel(~inside, whole_denominator),
               (err.sum() / x.pow(2).sum()).item() if outlier_in_whole else rel(whole))
        return (got[1], got[0], got[2]) if swap else got
    return outlier_errors


right_outlier = outlier_measure()
CHECKS = [(check_absmax_in_sigmas, right_absmax), (check_scale_index, right_scale_index),
          (check_storage_bytes, right_storage), (check_outlier_errors, right_outlier)]


@pytest.mark.parametrize("check,right", CHECKS)
def test_right_answers_pass(check, right, capsys):
    assert check(right) is True
    assert capsys.readouterr().out.startswith(f"Exercise {CHECKS.index((check, right)) + 1}: ✓")


@pytest.mark.parametrize("check,right", CHECKS)
def test_stub_is_not_done_and_never_raises(check, right, capsys):
    assert check(lambda *args: None) is False
    assert "not done yet:" in capsys.readouterr().out
    set_strict(True)
    with pytest.raises(AssertionError, match="not done yet"):
        check(lambda *args: None)


@pytest.mark.parametrize("answer,match", [
    (lambda b: norm.ppf(0.5 ** (1 / b)), "largest SIGNED value, max z"),
    (lambda b: {32: 2.348, 64: 2.597, 4096: 3.814}[b], "mean of the block absmax"),
    (lambda b: 2.5, "expected about 2.300"),
    (lambda b: "far", "must return a number"),
])
def test_absmax_slips(answer, match, capsys):
    assert check_absmax_in_sigmas(answer) is False
    assert match in capsys.readouterr().out


def test_absmax_accepts_a_simulation():
    import torch
    def simulate(blocksize):
        z = torch.randn(2**23 // blocksize, blocksize, generator=torch.Generator().manual_seed(1))
        return z.abs().amax(dim=1).median().item()
    assert check_absmax_in_sigmas(simulate) is True


def test_absmax_simulation_of_ten_thousand_blocks_passes():
    """The cell asks for at least 10^4 blocks per size: that many land within the tolerance."""
    from lorakit.exercises.nb03 import ABSMAX_MIN_BLOCKS
    for seed in (0, 1, 2):
        def simulate(blocksize):
            gen = torch.Generator().manual_seed(seed)
            return torch.randn(ABSMAX_MIN_BLOCKS, blocksize, generator=gen).abs().amax(dim=1).median().item()
        assert check_absmax_in_sigmas(simulate) is True, seed


def test_absmax_small_simulation_is_not_called_the_mean(capsys):
    """A noisy median of 300 blocks is refused with the number of blocks needed, never as "the mean"."""
    def simulate(blocksize):
        z = torch.randn(300, blocksize, generator=torch.Generator().manual_seed(3))
        return z.abs().amax(dim=1).median().item()
    assert check_absmax_in_sigmas(simulate) is False
    out = capsys.readouterr().out
    assert "at least 10,000 blocks per size" in out and "mean" not in out, out


def test_absmax_mean_slip_uses_the_exact_mean(capsys):
    from lorakit.exercises.nb03 import _absmax_mean
    def simulated_mean(blocksize):     # the mean of 2^16 blocks: within 0.01 of the exact one
        z = torch.randn(2**16, blocksize, generator=torch.Generator().manual_seed(0))
        return z.abs().amax(dim=1).mean().item()
    assert abs(simulated_mean(64) - _absmax_mean(64)) < 0.005
    assert check_absmax_in_sigmas(simulated_mean) is False
    assert "mean of the block absmax" in capsys.readouterr().out


def test_scale_index_accepts_numpy_integers(capsys):
    import numpy as np
    assert check_scale_index(lambda r, c, n, b: np.int64((r * n + c) // b)) is True
    assert check_scale_index(lambda r, c, n, b: np.int32(c // b)) is False
    assert "do not restart at each row" in capsys.readouterr().out


@pytest.mark.parametrize("answer,match", [
    (lambda r, c, n, b: r * (n // b) + c // b, "bitsandbytes' CPU dequantize wrong"),
    (lambda r, c, n, b: c // b, "do not restart at each row"),
    (lambda r, c, n, b: (r * n + c) % b, "position inside the block"),
    (lambda r, c, n, b: (r * n + c) / b, "must return an int"),
    (lambda r, c, n, b: (r * n + c) // b + 1, "expected"),
    (lambda r, c, n, b: 1 / 0, "raised ZeroDivisionError"),
])
def test_scale_index_slips(answer, match, capsys):
    assert check_scale_index(answer) is False
    assert match in capsys.readouterr().out


def _storage(numel_bytes, n_blocks, dq_scales, offset=4, scale_bytes=4):
    def answer(shape, blocksize, double_quant):
        numel = math.prod(shape)
        blocks = n_blocks(numel, blocksize)
        if double_quant:
            return numel_bytes(numel) + blocks + 4 * dq_scales(blocks) + offset
        return numel_bytes(numel) + scale_bytes * blocks
    return answer


CEIL = lambda n, d: -(-n // d)  # noqa: E731


@pytest.mark.parametrize("answer,match", [
    (_storage(lambda n: CEIL(n, 2), lambda n, b: n // b, lambda k: CEIL(k, 256)), "partial"),
    (_storage(lambda n: n // 2, lambda n, b: CEIL(n, b), lambda k: CEIL(k, 256)), "odd number of indices"),
    (_storage(lambda n: n, lambda n, b: CEIL(n, b), lambda k: CEIL(k, 256)), "two share a byte"),
    (_storage(lambda n: CEIL(n, 2), lambda n, b: CEIL(n, b), lambda k: CEIL(k, 256), offset=0), "offset"),
    (_storage(lambda n: CEIL(n, 2), lambda n, b: CEIL(n, b), lambda k: k // 256), "second level has a partial"),
])
def test_storage_slips(answer, match, capsys):
    assert check_storage_bytes(answer) is False
    assert match in capsys.readouterr().out


def test_storage_counts_scales_of_double_quant_as_bytes(capsys):
    def float32_scales(shape, blocksize, double_quant):
        numel = math.prod(shape)
        return CEIL(numel, 2) + 4 * CEIL(numel, blocksize)   # ignores double_quant
    assert check_storage_bytes(float32_scales) is False
    assert "1 byte each" in capsys.readouterr().out


def test_outlier_check_mark_says_what_the_block_size_does(capsys):
    assert check_outlier_errors(right_outlier) is True
    out = capsys.readouterr().out
    for b in OUTLIER_BLOCKSIZES:
        assert f"{b}: " in out
    assert "grows with the block size more than the other blocks' does" in out


def checkers_own_measure(w, blocksize):
    from lorakit.exercises.nb03 import _measure
    return _measure(w, blocksize)


def lorakit_round_trip(w, blocksize):
    from lorakit.quant import dequantize_4bit, quantize_4bit

    packed, state = quantize_4bit(w, "nf4", blocksize)
    return right_outlier(dequantize_4bit(packed, state), blocksize)


@pytest.mark.parametrize("answer,match", [
    (outlier_measure(quant_type=None), "defaults to FP4"),
    (outlier_measure(keep_outlier=True), "leave the outlier itself out"),
    (outlier_measure(relative=False), "not the mean squared error"),
    (outlier_measure(row_blocks=True), r"flattened tensor .*outlier at \(37, 700\)"),
    (outlier_measure(swap=True), "swapped the first two"),
    (outlier_measure(norm_ratio=True), r"relative SQUARED error: a norm ratio .*square it"),
    (outlier_measure(outlier_in_whole=True), r"leave the outlier out of \"whole\" too"),
    (outlier_measure(whole_denominator=True), r"each part's squared error by the squares of the same values"),
    (outlier_measure(block_over_whole=True), r"the block's squared error by the squares of its own values"),
    (lambda w, b: tuple(1.01 * v for v in right_outlier(w, b)), "not the expected numbers"),
    (lambda w, b: (0.8, 0.0085, 0.0093), "not the expected numbers"),   # numbers copied from a ✓ line
    (checkers_own_measure, r"calls the checker's own _measure"),
    (lambda w, b: 0.8, "three numbers"),
    (lorakit_round_trip, r"calls lorakit\.quant\.(de)?quantize_4bit"),
])
def test_outlier_slips_and_shortcuts(answer, match, capsys):
    assert check_outlier_errors(answer) is False
    out = capsys.readouterr().out
    assert out.startswith("Exercise 4: not right yet: "), out
    assert re.search(match, out), out
