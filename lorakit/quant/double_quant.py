"""Double quantization: store the 4-bit blocks' float32 absmax scales in 8 bits as well.

With blocksize 64, one float32 scale per block costs 32 / 64 = 0.5 bits per weight. QLoRA
(arXiv 2305.14314, section 3) subtracts the scales' mean (they are all positive, so centring them
uses the signed 8-bit code fully) and quantizes them blockwise, 256 scales per block, to 8-bit
"dynamic" codes: 8 / 64 + 32 / (64 * 256) = 0.127 bits per weight.

The second level rounds as bitsandbytes' CPU kernel does, which is *not* exactly to the nearest
code value: it maps ``x / absmax`` to one of 65,536 evenly spaced bins over [-1, 1] and looks the
code up in a table built from those bins' left edges. The result equals bitsandbytes' nested
``QuantState`` (``quantize_4bit(..., compress_statistics=True)``) byte for byte.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lorakit.quant.codes import dynamic_code

LUT_SIZE = 65536  # bins over [-1, 1] in bitsandbytes' CPU 8-bit quantizer


@dataclass(frozen=True, eq=False)
class DoubleQuantState:
    """The second quantization level: what replaces one float32 absmax per 4-bit block."""

    codes: torch.Tensor   # (n,) uint8: indices into dynamic_code() of (absmax - offset) / absmax2
    absmax: torch.Tensor  # (ceil(n / blocksize),) float32: one scale per block of `blocksize` codes
    offset: torch.Tensor  # () float32: the mean of the first-level absmax, added back after decoding
    blocksize: int = 256

    def nbits(self) -> int:
        """Storage in bits: 8 per code, 32 per second-level scale, 32 for the offset."""
        return 8 * self.codes.numel() + 32 * self.absmax.numel() + 32


def _lookup_table(code: torch.Tensor) -> torch.Tensor:
    """(LUT_SIZE,) uint8: for bin ``i`` at ``-1 + 2i / 65535``, the index of the nearest code value."""
    bins = -1.0 + (2.0 * torch.arange(LUT_SIZE, dtype=torch.float32)) / (LUT_SIZE - 1)
    midpoints = (code[:-1] + code[1:]) * 0.5  # code is sorted
    return torch.bucketize(bins, midpoints).to(torch.uint8)


def quantize_8bit(x: torch.Tensor, blocksize: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Blockwise absmax quantization of a flat float32 tensor to the 8-bit dynamic code.

    Rounding copies bitsandbytes' CPU kernel: ``x / absmax`` (as ``x * (1 / absmax)``) is mapped to
    the nearest of 65,536 evenly spaced bins over [-1, 1] and the bin's code index is looked up in
    a table; near the midpoint between two code values this can pick the farther one. The last
    block may be partial (padded with zeros, which leave its absmax unchanged). An all-zero block
    gets code index 0, as in bitsandbytes.

    Returns:
        ``(codes, absmax)``: uint8 of shape ``(numel,)`` and float32 of shape
        ``(ceil(numel / blocksize),)``.
    """
    n = x.numel()
    n_blocks = -(-n // blocksize)
    blocks = torch.zeros(n_blocks * blocksize, dtype=torch.float32, device=x.device)
    blocks[:n] = x.reshape(-1)
    blocks = blocks.reshape(n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)                                      # (n_blocks,)
    scaled = torch.clamp(blocks * (1.0 / absmax)[:, None], -1, 1)          # NaN where absmax == 0
    bins = (((scaled + 1.0) * 0.5) * (LUT_SIZE - 1) + 0.5).nan_to_num(0).long()  # truncation, as in C
    codes = _lookup_table(dynamic_code()).to(x.device)[bins]               # (n_blocks, blocksize)
    codes[absmax == 0] = 0
    return codes.reshape(-1)[:n], absmax


def dequantize_8bit(codes: torch.Tensor, absmax: torch.Tensor, blocksize: int = 256) -> torch.Tensor:
    """``dynamic_code()[codes] * absmax`` block by block: float32, shape ``(numel,)``."""
    values = dynamic_code().to(codes.device)[codes.long()]  # (n,)
    return values * absmax.to(codes.device).repeat_interleave(blocksize)[: codes.numel()]


def double_quantize(absmax: torch.Tensor, blocksize: int = 256) -> DoubleQuantState:
    """Quantize the 4-bit blocks' scales ``absmax`` (float32, shape ``(n,)``) to 8 bits.

    Subtracts one offset per tensor (the mean), then quantizes blockwise to :func:`dynamic_code`.
    ``blocksize`` (256 in QLoRA) must be a power of two; ``n`` need not be a multiple of it.
    """
    if not isinstance(absmax, torch.Tensor) or absmax.dtype != torch.float32 or absmax.dim() != 1:
        raise TypeError("double_quantize expects the (n,) float32 absmax returned by quantize_4bit")
    if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 2 or blocksize & (blocksize - 1):
        raise ValueError(f"blocksize must be a power of two (QLoRA uses 256), got {blocksize!r}")
    if absmax.numel() == 0 or not torch.isfinite(absmax).all():
        raise ValueError("absmax must be non-empty and finite")
    offset = absmax.mean()
    codes, absmax2 = quantize_8bit(absmax - offset, blocksize)
    return DoubleQuantState(codes, absmax2, offset, blocksize)


def double_dequantize(state: DoubleQuantState) -> torch.Tensor:
    """The first-level absmax recovered from ``state``: float32, shape ``(n,)``."""
    return dequantize_8bit(state.codes, state.absmax, state.blocksize) + state.offset
