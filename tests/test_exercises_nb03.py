"""The notebook-03 checkers accept right answers and name the slip in wrong ones."""
import pytest
import torch

from lorakit.exercises.nb03 import check_blockwise_absmax, check_nearest_index, check_pack_nibbles


def right_pack(indices):
    return (indices[0::2] << 4) | indices[1::2]


def right_absmax(w, blocksize):
    return w.reshape(-1, blocksize).abs().amax(dim=1)


def right_nearest(scaled, code):
    return (scaled[:, None] - code[None, :]).abs().argmin(dim=1)


def test_right_answers_pass(capsys):
    check_pack_nibbles(right_pack)
    check_blockwise_absmax(right_absmax)
    check_nearest_index(right_nearest)
    assert capsys.readouterr().out.count("Correct") == 3


@pytest.mark.parametrize("check", [check_pack_nibbles, check_blockwise_absmax, check_nearest_index])
def test_stub_raises_not_implemented(check):
    def stub(*args):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError):
        check(stub)


@pytest.mark.parametrize("pack,match", [
    (lambda i: (i[1::2] << 4) | i[0::2], "nibbles are swapped"),
    (lambda i: (i[: len(i) // 2] << 4) | i[len(i) // 2:], "first half with the second half"),
    (lambda i: i[0::2] | i[1::2], r"shifted into the high nibble"),
    (lambda i: (i[0::2].long() << 4) | i[1::2].long(), "dtype is torch.int64"),
    (lambda i: i, "pack into 37 bytes"),
    (lambda i: (i[0::2] << 4) + i[1::2] + 1, "bytes are wrong"),
    (lambda i: [1, 2], "must return a torch.Tensor"),
])
def test_pack_slips(pack, match):
    with pytest.raises(AssertionError, match=match):
        check_pack_nibbles(pack)


def _in_place(w, blocksize):
    w.abs_()
    return w.reshape(-1, blocksize).amax(dim=1)


@pytest.mark.parametrize("absmax,match", [
    (lambda w, b: w.reshape(-1, b).amax(dim=1), "absolute value before the max"),
    (lambda w, b: w.reshape(b, -1).abs().amax(dim=0), "not strided columns"),
    (lambda w, b: w.abs().amax(dim=1), "FLATTENED tensor"),
    (lambda w, b: w.reshape(-1, b).abs().amax(dim=1, keepdim=True), "has shape"),
    (lambda w, b: w.reshape(-1, b).abs().mean(dim=1), "scales are wrong"),
    (_in_place, "in place"),
    (lambda w, b: w.reshape(-1, 7), "raised RuntimeError"),
])
def test_absmax_slips(absmax, match):
    with pytest.raises(AssertionError, match=match):
        check_blockwise_absmax(absmax)


@pytest.mark.parametrize("nearest,match", [
    (lambda s, c: (s[:, None] - c[None, :]).argmin(dim=1), "absolute difference"),
    (lambda s, c: (torch.searchsorted(c, s, right=True) - 1).clamp(0, 15), "just below"),
    (lambda s, c: c[(s[:, None] - c[None, :]).abs().argmin(dim=1)], "INDEX"),
    (lambda s, c: torch.zeros(3, dtype=torch.long), "one index per value"),
    (lambda s, c: ((s + 1) * 7.5).round().long(), "indices are wrong"),
])
def test_nearest_slips(nearest, match):
    with pytest.raises(AssertionError, match=match):
        check_nearest_index(nearest)
