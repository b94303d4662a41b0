"""Blockwise absmax quantization: cut the flattened tensor into blocks, scale each block into
[-1, 1] by its largest magnitude, replace every value by the index of the nearest code value.

One outlier then only spoils the precision of its own block, not of the whole tensor (QLoRA,
arXiv 2305.14314, eq. 1-2). The rounding follows bitsandbytes' CPU path exactly
(``bitsandbytes/backends/default/ops.py``, the ``quantize_4bit`` kernel): full blocks are multiplied
by the reciprocal of their absmax, clamped to [-1, 1], and compared with the midpoints between
neighbouring code values; a value exactly on a midpoint goes to the lower code value.

The size need not be a multiple of the block size. As in bitsandbytes, the last, partial block gets
its own absmax: ``tensor.numel() = 100`` in blocks of 64 gives 2 scales, for 64 and 36 values.
bitsandbytes treats that block slightly differently, and so does this module: it divides by the
absmax instead of multiplying by its reciprocal, and it stores the absmax clamped to >= 1e-38.
"""
from __future__ import annotations

import torch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
TINY = 1e-38  # bitsandbytes clamps the absmax to this before dividing, so an all-zero block gives 0, not NaN


def check_blocksize(blocksize: int) -> None:
    """Raise a ``TypeError`` unless ``blocksize`` is an int, a ``ValueError`` unless it is a power of two >= 2."""
    if isinstance(blocksize, bool) or not isinstance(blocksize, int):
        raise TypeError(f"blocksize must be an int (a power of two such as 64), got {type(blocksize).__name__}")
    if blocksize < 2 or blocksize & (blocksize - 1):
        raise ValueError(f"blocksize must be a power of two >= 2 (bitsandbytes uses 32 ... 4096), got {blocksize}")


def n_blocks(numel: int, blocksize: int) -> int:
    """How many absmax scales ``numel`` values take in blocks of ``blocksize``: ``ceil(numel / blocksize)``."""
    return -(-numel // blocksize)


def check_float(w: torch.Tensor) -> None:
    """Raise a ``TypeError`` unless ``w`` is a float32, float16 or bfloat16 tensor, a ``ValueError`` if empty."""
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(w).__name__}")
    if w.dtype not in FLOAT_DTYPES:
        raise TypeError(f"expected a float32, float16 or bfloat16 tensor, got {w.dtype}; convert it with .float()")
    if w.numel() == 0:
        raise ValueError("cannot quantize an empty tensor")


def check_finite(absmax: torch.Tensor) -> None:
    """Raise a ``ValueError`` if a block held NaN or infinity (``amax`` propagates both, so checking
    the ``(n_blocks,)`` absmax is enough, and much cheaper than checking every weight)."""
    bad = ~torch.isfinite(absmax)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} block(s) hold NaN or infinite values (the first is block "
                         f"{int(bad.nonzero()[0])}); quantization needs finite weights")


def split_blocks(w: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The flattened ``w`` in float32 as ``(full, tail)``: ``full`` of shape
    ``(numel // blocksize, blocksize)`` and the partial last block ``tail``, ``(numel % blocksize,)``."""
    check_blocksize(blocksize)
    flat = w.detach().reshape(-1).float()
    n_full = flat.numel() - flat.numel() % blocksize
    return flat[:n_full].reshape(-1, blocksize), flat[n_full:]


def _absmax(full: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
    absmax = full.abs().amax(dim=1)                                     # (n_full,)
    if tail.numel():
        absmax = torch.cat([absmax, tail.abs().amax().clamp(min=TINY)[None]])
    return absmax                                                        # (n_blocks,)


def blockwise_absmax(w: torch.Tensor, blocksize: int = 64) -> torch.Tensor:
    """The largest magnitude in each block of ``w``: float32, shape ``(ceil(numel / blocksize),)``."""
    check_float(w)
    return _absmax(*split_blocks(w, blocksize))


def nearest_code(scaled: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Index into ``code`` of the value nearest to each entry of ``scaled`` (any shape, in [-1, 1]).

    ``code`` may be unsorted (FP4 is in bit-pattern order). It is sorted, ``bucketize`` counts the
    midpoints strictly below each value, and the count is mapped back to the original index, so a
    value exactly on a midpoint gets the lower code value. Returns int64, the shape of ``scaled``.
    """
    code = code.to(scaled.device)
    order = torch.argsort(code, stable=True)    # (K,) sorted position -> index in code
    ordered = code[order]
    midpoints = (ordered[:-1] + ordered[1:]) / 2  # (K-1,)
    position = torch.bucketize(scaled, midpoints)  # index into the sorted code
    if torch.equal(order, torch.arange(len(code), device=code.device)):
        return position                            # NF4 and the 8-bit codes are sorted already
    return order[position]


def quantize_blockwise(w: torch.Tensor, code: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Blockwise absmax quantization of ``w`` to indices into ``code`` (one index per value).

    Args:
        w: a non-empty float tensor of any shape; its size need not be a multiple of ``blocksize``.
        code: the code book, shape ``(K,)`` with values in [-1, 1] (K <= 256).
        blocksize: values per block, a power of two.

    Returns:
        ``(indices, absmax)``: ``indices`` uint8 of shape ``(numel,)`` in the flattened order of
        ``w``; ``absmax`` float32 of shape ``(ceil(numel / blocksize),)``.
    """
    check_float(w)
    full, tail = split_blocks(w, blocksize)               # (n_full, blocksize), (numel % blocksize,)
    absmax = _absmax(full, tail)                          # (n_blocks,)
    check_finite(absmax)
    scale = 1.0 / absmax[: len(full)].clamp(min=TINY)     # an all-zero block: 0 * (1 / 1e-38) = 0, not NaN
    scaled = torch.clamp(full * scale[:, None], -1, 1).reshape(-1)
    if tail.numel():                                      # bitsandbytes divides in the partial block
        scaled = torch.cat([scaled, torch.clamp(tail / absmax[-1], -1, 1)])
    return nearest_code(scaled, code).to(torch.uint8), absmax


def scale_blocks(values: torch.Tensor, absmax: torch.Tensor, blocksize: int) -> torch.Tensor:
    """Multiply each block of the flat ``values`` (code values in [-1, 1]) by its ``absmax``.

    ``values``: float32, ``numel`` elements; ``absmax``: ``(ceil(numel / blocksize),)``, the last
    block may be partial. Returns float32, shape ``(numel,)``.
    """
    check_blocksize(blocksize)
    numel = values.numel()
    if absmax.numel() != n_blocks(numel, blocksize):
        raise ValueError(f"{numel} values in blocks of {blocksize} need {n_blocks(numel, blocksize)} "
                         f"absmax values, got {absmax.numel()}")
    flat, absmax = values.reshape(-1), absmax.float().to(values.device)
    n_full = numel - numel % blocksize
    full = (flat[:n_full].reshape(-1, blocksize) * absmax[: n_full // blocksize, None]).reshape(-1)
    if n_full == numel:
        return full
    return torch.cat([full, flat[n_full:] * absmax[-1]])  # the partial last block


def dequantize_blockwise(indices: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor,
                         blocksize: int = 64) -> torch.Tensor:
    """Undo :func:`quantize_blockwise`: ``code[indices] * absmax`` block by block, float32 ``(numel,)``."""
    return scale_blocks(code.to(indices.device)[indices.reshape(-1).long()], absmax, blocksize)
