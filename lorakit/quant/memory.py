"""Bits per weight of 4-bit blockwise storage: the indices plus the block scales.

This is the one place the course computes it; :mod:`lorakit.count` imports it for its memory
tables. Blockwise quantization with one float32 absmax per block of 64 weights costs
4 + 32/64 = 4.5 bits per parameter. QLoRA's double quantization stores those absmax values in
8 bits, in blocks of 256 with one float32 scale each: 4 + 8/64 + 32/(64·256) ≈ 4.127 bits
(Dettmers et al. 2023, arXiv 2305.14314, §3).
"""
from __future__ import annotations


def bits_per_parameter(blocksize: int = 64, double_quant: bool = False, dq_blocksize: int = 256,
                       bits: int = 4) -> float:
    """Average storage per weight, in bits, of blockwise absmax quantization.

    Without double quantization each block of ``blocksize`` weights carries one float32 scale:
    ``bits + 32 / blocksize`` (4.5 for 4 bits in blocks of 64). With it, the scales become 8-bit
    codes plus one float32 scale per ``dq_blocksize`` codes:
    ``bits + 8 / blocksize + 32 / (blocksize * dq_blocksize)`` (4.127 for blocks of 64: the 0.373
    bits per parameter QLoRA saves, §3). Left out, because they are per tensor, not per weight: the
    float32 offset of double quantization, and the padding of a partial last block.

    Args:
        blocksize: weights per first-level scale (QLoRA: 64).
        double_quant: whether the scales are quantized again (QLoRA: yes).
        dq_blocksize: scales per second-level scale (QLoRA: 256).
        bits: bits per stored index (4 for NF4/FP4/INT4; 8 for bitsandbytes' 8-bit blockwise code).
    """
    for name, value in (("blocksize", blocksize), ("dq_blocksize", dq_blocksize), ("bits", bits)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int (QLoRA: blocksize 64, dq_blocksize 256, bits 4), "
                             f"got {value!r}")
    if double_quant:
        return bits + 8 / blocksize + 32 / (blocksize * dq_blocksize)
    return bits + 32 / blocksize
