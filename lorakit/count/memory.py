"""Bytes for weights: bits per parameter of each storage format, and readable sizes.

The 4-bit formats pay for their scaling constants; their bits per parameter come from
:func:`lorakit.quant.bits_per_parameter` (4.5 for NF4 in blocks of 64, 4.127 with QLoRA's double
quantization, Dettmers et al. 2023, §3), the one place the course computes them.
"""
from __future__ import annotations

from ..quant.memory import bits_per_parameter

BITS_PER_PARAM = {
    "fp32": 32.0,
    "fp16": 16.0,
    "bf16": 16.0,
    "int8": 8.0,
    "nf4": bits_per_parameter(64),                       # 4.5
    "nf4-dq": bits_per_parameter(64, double_quant=True),  # 4.127
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

    This counts every parameter in that format; in practice QLoRA's code keeps the embeddings and
    ``lm_head`` in 16 bits and the norms in 32, so use it per group of layers for a finer estimate.
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
