"""Bits per parameter of every storage format, and bytes for weights: the one owner of these rules.

4-bit blockwise storage pays for its scaling constants: with one float32 absmax per block of 64
weights it costs 4 + 32/64 = 4.5 bits per parameter. QLoRA's double quantization stores those absmax
values in 8 bits, in blocks of 256 with one float32 scale each: 4 + 8/64 + 32/(64·256) ≈ 4.127 bits
(Dettmers et al. 2023, arXiv 2305.14314, §3). :func:`bits_per_parameter` computes it from the block
sizes; :data:`BITS_PER_PARAM` names the formats the tables use; :func:`format_bits` turns a format
name or a number into bits.
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


BITS_PER_PARAM = {
    "fp32": 32.0,
    "fp16": 16.0,
    "bf16": 16.0,
    "int8": 8.0,
    "nf4": bits_per_parameter(64),                       # 4.5
    "nf4-dq": bits_per_parameter(64, double_quant=True),  # 4.127
}


def format_bits(fmt: str | float) -> float:
    """Bits per parameter for a format name in :data:`BITS_PER_PARAM`, or a number of bits."""
    if isinstance(fmt, (int, float)) and not isinstance(fmt, bool):
        if fmt <= 0:
            raise ValueError(f"bits per parameter must be positive, got {fmt}")
        return float(fmt)
    if fmt not in BITS_PER_PARAM:
        raise ValueError(f"unknown format {fmt!r}: expected one of {list(BITS_PER_PARAM)} or a number of bits")
    return BITS_PER_PARAM[fmt]


def model_bytes(n_params: int, fmt: str | float = "fp16") -> float:
    """Bytes to store ``n_params`` weights in format ``fmt`` (e.g. ``"nf4"`` or ``4.5``).

    This counts every parameter in that format; in practice QLoRA's code keeps the embeddings and
    ``lm_head`` in 16 bits and the norms in 32, so use it per group of layers for a finer estimate.
    """
    if n_params < 0:
        raise ValueError(f"n_params must be >= 0, got {n_params}")
    return n_params * format_bits(fmt) / 8


def format_bytes(n_bytes: float) -> str:
    """Decimal units, as the papers use them: ``350 GB``, ``37.7 MB``, ``512 kB``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            value = n_bytes / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n_bytes:.0f} B"


__all__ = ["BITS_PER_PARAM", "bits_per_parameter", "format_bits", "format_bytes", "model_bytes"]
