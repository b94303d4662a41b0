"""The notebook-03 checkers accept right answers, say "not done yet" for stubs, and name the slip in wrong ones."""
import math

import pytest
from scipy.stats import norm

from lorakit.exercises import set_strict
from lorakit.exercises.nb03 import check_absmax_in_sigmas, check_scale_index, check_storage_bytes


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


CHECKS = [(check_absmax_in_sigmas, right_absmax), (check_scale_index, right_scale_index),
          (check_storage_bytes, right_storage)]


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
