"""Blockwise absmax quantization: cut the flattened tensor into blocks, scale each block into
[-1, 1] by its largest magnitude, replace every value by the index of the nearest code value.

One outlier then only spoils the precision of its own block, not of the whole tensor (QLoRA,
arXiv 2305.14314, eq. 1-2). The rounding follows bitsandbytes' CPU path exactly: values are
multiplied by the reciprocal of the absmax, clamped to [-1, 1], and compared with the midpoints
between neighbouring code values; a value exactly on a midpoint goes to the lower code value.
"""
from __future__ import annotations

import torch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_blocksize(blocksize: int, numel: int) -> None:
    """Raise a ``TypeError`` unless ``blocksize`` is an int, and a ``ValueError`` unless it is a power
    of two (>= 2) that divides ``numel``."""
    if isinstance(blocksize, bool) or not isinstance(blocksize, int):
        raise TypeError(f"blocksize must be an int (a power of two such as 64), got {type(blocksize).__name__}")
    if blocksize < 2 or blocksize & (blocksize - 1):
        raise ValueError(f"blocksize must be a power of two >= 2 (bitsandbytes uses 32 ... 4096), got {blocksize}")
    if numel == 0 or numel % blocksize:
        raise ValueError(f"the tensor's size {numel} must be a positive multiple of blocksize {blocksize}; "
                         f"pick a blocksize that divides it")


def check_float(w: torch.Tensor) -> None:
    """Raise a ``TypeError`` unless ``w`` is a float32, float16 or bfloat16 tensor."""
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(w).__name__}")
    if w.dtype not in FLOAT_DTYPES:
        raise TypeError(f"expected a float32, float16 or bfloat16 tensor, got {w.dtype}; convert it with .float()")


def check_finite(absmax: torch.Tensor) -> None:
    """Raise a ``ValueError`` if a block held NaN or infinity (``amax`` propagates both, so checking
    the ``(n_blocks,)`` absmax is enough, and much cheaper than checking every weight)."""
    bad = ~torch.isfinite(absmax)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} block(s) hold NaN or infinite values (the first is block "
                         f"{int(bad.nonzero()[0])}); quantization needs finite weights")


def to_blocks(w: torch.Tensor, blocksize: int) -> torch.Tensor:
    """Contiguous blocks of the flattened tensor, in float32: shape ``(numel // blocksize, blocksize)``."""
    check_blocksize(blocksize, w.numel())
    return w.detach().reshape(-1).float().reshape(-1, blocksize)


def blockwise_absmax(w: torch.Tensor, blocksize: int = 64) -> torch.Tensor:
    """The largest magnitude in each block of ``w``: shape ``(numel // blocksize,)``, float32."""
    check_float(w)
    return to_blocks(w, blocksize).abs().amax(dim=1)


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
        w: a float tensor of any shape whose size is a multiple of ``blocksize``.
        code: the code book, shape ``(K,)`` with values in [-1, 1] (K <= 256).
        blocksize: values per block, a power of two.

    Returns:
        ``(indices, absmax)``: ``indices`` uint8 of shape ``(numel,)`` in the flattened order of
        ``w``; ``absmax`` float32 of shape ``(numel // blocksize,)``.
    """
    check_float(w)
    blocks = to_blocks(w, blocksize)                      # (n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)                     # (n_blocks,)
    check_finite(absmax)
    # an all-zero block would give 0 * inf = NaN; bitsandbytes clamps the divisor the same way
    scale = 1.0 / absmax.clamp(min=1e-38)
    scaled = torch.clamp(blocks * scale[:, None], -1, 1)  # (n_blocks, blocksize)
    return nearest_code(scaled.reshape(-1), code).to(torch.uint8), absmax


def scale_blocks(values: torch.Tensor, absmax: torch.Tensor, blocksize: int) -> torch.Tensor:
    """Multiply each block of the flat ``values`` (code values in [-1, 1]) by its ``absmax``.

    ``values``: float32, ``numel`` elements; ``absmax``: ``(numel // blocksize,)``. Returns float32,
    shape ``(numel,)``.
    """
    check_blocksize(blocksize, values.numel())
    if absmax.numel() * blocksize != values.numel():
        raise ValueError(f"{values.numel()} values in blocks of {blocksize} need {values.numel() // blocksize} "
                         f"absmax values, got {absmax.numel()}")
    return (values.reshape(-1, blocksize) * absmax.float().to(values.device).reshape(-1, 1)).reshape(-1)


def dequantize_blockwise(indices: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor,
                         blocksize: int = 64) -> torch.Tensor:
    """Undo :func:`quantize_blockwise`: ``code[indices] * absmax`` block by block, float32 ``(numel,)``."""
    return scale_blocks(code.to(indices.device)[indices.reshape(-1).long()], absmax, blocksize)
