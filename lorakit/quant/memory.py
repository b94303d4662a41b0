"""Bits per weight of 4-bit blockwise storage, the indices plus the block scales.

The arithmetic itself lives in :func:`lorakit.count.blockwise_bits` (shared with the memory
tables of :mod:`lorakit.count`); this is its 4-bit view with QLoRA's defaults.
"""
from __future__ import annotations

from ..count.memory import blockwise_bits


def bits_per_parameter(blocksize: int = 64, double_quant: bool = False, dq_blocksize: int = 256) -> float:
    """Average storage per weight, in bits, of 4-bit blockwise absmax quantization.

    Without double quantization each block of ``blocksize`` weights carries one float32 scale:
    ``4 + 32 / blocksize`` (4.5 for blocksize 64). With it, the scales become 8-bit codes plus one
    float32 scale per ``dq_blocksize`` codes: ``4 + 8 / blocksize + 32 / (blocksize * dq_blocksize)``
    (4.127 for blocksize 64: the 0.373 bits per parameter QLoRA saves, section 3). The one float32
    offset per tensor is left out (32 bits per tensor, not per weight).

    Args:
        blocksize: weights per first-level scale (QLoRA: 64).
        double_quant: whether the scales are quantized again (QLoRA: yes).
        dq_blocksize: scales per second-level scale (QLoRA: 256).
    """
    for name, value in (("blocksize", blocksize), ("dq_blocksize", dq_blocksize)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int (QLoRA: 64 and 256), got {value!r}")
    return blockwise_bits(4, blocksize, double_quant=double_quant, dq_blocksize=dq_blocksize)
