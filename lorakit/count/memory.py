"""Bytes for weights: bits per parameter of each storage format, and readable sizes.

The 4-bit formats pay for their scaling constants. Blockwise quantisation with one fp32 absmax per
block of 64 weights costs 4 + 32/64 = 4.5 bits per parameter. QLoRA's double quantisation stores
those absmax values in 8 bits, in blocks of 256 with one fp32 constant each:
4 + 8/64 + 32/(64·256) ≈ 4.127 bits (Dettmers et al. 2023, §3). The arithmetic is a function of
its parameters, so other block sizes can be compared.
"""
from __future__ import annotations


def blockwise_bits(bits: int = 4, blocksize: int = 64, absmax_bits: int = 32,
                   double_quant: bool = False, dq_blocksize: int = 256, dq_bits: int = 8) -> float:
    """Bits per parameter of blockwise quantisation, scaling constants included.

    Args:
        bits: bits per quantised weight (4 for NF4/FP4).
        blocksize: weights sharing one absmax (bitsandbytes' default is 64).
        absmax_bits: bits of each absmax (32, an fp32, without double quantisation).
        double_quant: quantise the absmax values too (QLoRA): each then costs ``dq_bits``, plus one
            fp32 constant per ``dq_blocksize`` absmax values.
    """
    for name, value in (("bits", bits), ("blocksize", blocksize), ("dq_blocksize", dq_blocksize)):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if double_quant:
        return bits + dq_bits / blocksize + absmax_bits / (blocksize * dq_blocksize)
    return bits + absmax_bits / blocksize


BITS_PER_PARAM = {
    "fp32": 32.0,
    "fp16": 16.0,
    "bf16": 16.0,
    "int8": 8.0,
    "nf4": blockwise_bits(4, 64),                        # 4.5
    "nf4-dq": blockwise_bits(4, 64, double_quant=True),  # 4.127
}


def bits_per_param(fmt: str | float) -> float:
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

    This counts every parameter in that format; in practice QLoRA keeps embeddings and norms in
    16 bits, so use it per group of layers for a finer estimate.
    """
    if n_params < 0:
        raise ValueError(f"n_params must be >= 0, got {n_params}")
    return n_params * bits_per_param(fmt) / 8


def format_bytes(n_bytes: float) -> str:
    """Decimal units, as the papers use them: ``350 GB``, ``37.7 MB``, ``512 kB``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            value = n_bytes / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n_bytes:.0f} B"
