"""Bits per weight of blockwise 4-bit storage: the indices plus the block scales."""
from __future__ import annotations


def bits_per_parameter(blocksize: int = 64, double_quant: bool = False, *, bits: int = 4,
                       dq_blocksize: int = 256) -> float:
    """Average storage per weight, in bits, of ``bits``-bit blockwise absmax quantization.

    Without double quantization each block of ``blocksize`` weights carries one float32 scale:
    ``bits + 32 / blocksize`` (4.5 for NF4 with blocksize 64). With it, the scales become 8-bit
    codes, plus one float32 scale per ``dq_blocksize`` codes: ``bits + 8 / blocksize +
    32 / (blocksize * dq_blocksize)`` (4.127 for blocksize 64, the 0.373 bits QLoRA saves). The
    one float32 offset per tensor is ignored (it is 32 bits per tensor, not per weight).

    Args:
        blocksize: weights per first-level scale (QLoRA: 64).
        double_quant: whether the scales are quantized again (QLoRA: yes).
        bits: bits per weight index (4 for NF4/FP4/INT4).
        dq_blocksize: scales per second-level scale (QLoRA: 256).
    """
    for name, value in (("blocksize", blocksize), ("dq_blocksize", dq_blocksize), ("bits", bits)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not double_quant:
        return bits + 32 / blocksize
    return bits + 8 / blocksize + 32 / (blocksize * dq_blocksize)
