"""Checkers for notebook 03 (NF4 and double quantization).

Exercise 1, ``pack_nibbles(indices)``: two 4-bit indices per byte, in bitsandbytes' order.
Exercise 2, ``blockwise_absmax(w, blocksize)``: one scale per contiguous block of the flattened tensor.
Exercise 3, ``nearest_index(scaled, code)``: the index of the nearest code value.

Each checker tries the learner's function on a few inputs, compares with ``lorakit.quant`` (itself
tested byte for byte against bitsandbytes), and when the answer is wrong recognises the usual slips
(nibbles swapped, max instead of absolute max, blocks along the wrong axis, ...) and names them.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..quant import blockwise_absmax as reference_absmax
from ..quant import nearest_code, nf4_code, pack_4bit


def _call(fn: Callable, *args):
    """Call the learner's function on copies; report exceptions other than NotImplementedError."""
    copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    try:
        got = fn(*copies)
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(f"{fn.__name__} raised {type(err).__name__}: {err}") from None
    if any(isinstance(a, torch.Tensor) and not torch.equal(a, c) for a, c in zip(args, copies)):
        raise AssertionError(f"{fn.__name__} changed its input in place; compute a new tensor instead")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{fn.__name__} must return a torch.Tensor, got {type(got).__name__}")
    return got


def _first_slip(got: torch.Tensor, slips: dict[str, torch.Tensor]) -> str | None:
    for message, wrong in slips.items():
        if got.shape == wrong.shape and torch.equal(got.to(wrong.dtype), wrong):
            return message
    return None


# ---------------------------------------------------------------- exercise 1: packing


def check_pack_nibbles(pack_nibbles: Callable) -> None:
    """Check ``pack_nibbles(indices: uint8 (n,), values 0..15) -> uint8 (n // 2,)``.

    Byte ``j`` must hold ``indices[2j]`` in its high nibble and ``indices[2j + 1]`` in its low one.
    """
    indices = torch.randint(0, 16, (2 * 37,), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    got = _call(pack_nibbles, indices)
    expected = pack_4bit(indices)
    if got.shape != expected.shape:
        raise AssertionError(f"{indices.numel()} indices pack into {expected.numel()} bytes, shape "
                             f"{tuple(expected.shape)}; you returned shape {tuple(got.shape)}")
    even, odd, half = indices[0::2], indices[1::2], indices.numel() // 2
    slips = {
        "the nibbles are swapped: bitsandbytes puts the FIRST index of each pair in the HIGH nibble "
        "(byte = first << 4 | second)": (odd << 4) | even,
        "you paired the first half with the second half; pair neighbours: (0, 1), (2, 3), ...":
            (indices[:half] << 4) | indices[half:],
        "the first index must be shifted into the high nibble (<< 4) before combining": even | odd,
    }
    if not torch.equal(got.to(torch.int64), expected.to(torch.int64)):
        raise AssertionError(_first_slip(got.to(torch.int64), {k: v.long() for k, v in slips.items()})
                             or f"{int((got.long() != expected.long()).sum())} of {expected.numel()} bytes are "
                                "wrong; expected indices[0::2] << 4 | indices[1::2]")
    if got.dtype != torch.uint8:
        raise AssertionError(f"the values are right but the dtype is {got.dtype}; return uint8 (.to(torch.uint8))")
    print("Correct: pack_nibbles stores two indices per byte in bitsandbytes' order.")


# ---------------------------------------------------------------- exercise 2: blockwise absmax


def check_blockwise_absmax(blockwise_absmax: Callable) -> None:
    """Check ``blockwise_absmax(w, blocksize) -> float32 (w.numel() // blocksize,)``."""
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(6, 128, generator=gen)  # non-square, and blocks (64) shorter than a row (128)
    w[2, 70] = -9.0                          # the largest magnitude of its block is negative
    for blocksize in (64, 32):
        got = _call(blockwise_absmax, w, blocksize)
        expected = reference_absmax(w, blocksize)
        if got.shape != expected.shape:
            hint = (" (one value per row: blocks are chunks of the FLATTENED tensor, w.reshape(-1, blocksize))"
                    if got.numel() == w.shape[0] else "")
            raise AssertionError(f"with blocksize {blocksize} a tensor of {w.numel()} values has "
                                 f"{expected.numel()} blocks, so the result has shape {tuple(expected.shape)}; "
                                 f"you returned {tuple(got.shape)}{hint}")
        flat = w.reshape(-1)
        slips = {
            "take the absolute value before the max: a block's scale must also cover its most negative value":
                flat.reshape(-1, blocksize).amax(dim=1),
            "blocks must be contiguous chunks of the flattened tensor (w.reshape(-1, blocksize)), "
            "not strided columns": flat.reshape(blocksize, -1).abs().amax(dim=0),
        }
        if not torch.allclose(got.float(), expected):
            raise AssertionError(_first_slip(got.float(), slips)
                                 or f"with blocksize {blocksize}, {int((got.float() != expected).sum())} of "
                                    f"{expected.numel()} scales are wrong; expected w.reshape(-1, blocksize)"
                                    ".abs().amax(dim=1)")
    print("Correct: blockwise_absmax gives one scale per contiguous block.")


# ---------------------------------------------------------------- exercise 3: nearest code value


def check_nearest_index(nearest_index: Callable) -> None:
    """Check ``nearest_index(scaled: (n,) in [-1, 1], code: (16,)) -> integer (n,)`` on NF4.

    Values exactly halfway between two code values are left out: any tie rule passes.
    """
    code = nf4_code()
    scaled = torch.rand(500, generator=torch.Generator().manual_seed(5)) * 2 - 1
    scaled = torch.cat([scaled, code, torch.tensor([-1.0, 1.0, 0.0])])
    got = _call(nearest_index, scaled, code)
    expected = nearest_code(scaled, code)
    if got.is_floating_point():
        raise AssertionError("return the INDEX of the nearest code value (an integer tensor), not the value "
                             "itself: 4-bit storage keeps only the index")
    if got.shape != expected.shape:
        raise AssertionError(f"expected one index per value, shape {tuple(expected.shape)}; got {tuple(got.shape)}")
    distance = (scaled[:, None] - code[None, :])
    slips = {
        "take the absolute difference |x - code| before argmin: without it the most negative difference wins":
            distance.argmin(dim=1),
        "round to the code value just below (searchsorted alone); compare the distances to both neighbours":
            (torch.searchsorted(code, scaled, right=True) - 1).clamp(0, 15),
    }
    if not torch.equal(got.long(), expected):
        raise AssertionError(_first_slip(got.long(), slips)
                             or f"{int((got.long() != expected).sum())} of {len(expected)} indices are wrong; "
                                "expected (scaled[:, None] - code).abs().argmin(dim=1)")
    print("Correct: nearest_index picks the nearest NF4 value.")
