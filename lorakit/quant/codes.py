"""The code books the course compares, by name: ``nf4``, ``fp4``, ``int4`` (4-bit) and the 8-bit
``dynamic`` code that double quantization stores the block scales in.

A code book is a float32 tensor whose entry ``i`` is the value the bit pattern ``i`` stands for,
normalised so that the largest magnitude is 1. Quantizing picks, for each weight divided by its
block's absmax, the index of the nearest entry.
"""
from __future__ import annotations

import torch

from lorakit.quant.nf4 import nf4_code

# bitsandbytes' FP4 (e2m1: 1 sign, 2 exponent, 1 mantissa bit, exponent bias 2), listed by the
# three magnitude bits 0b000 ... 0b111. 0b000 and 0b001 are subnormal (0 and 1/16); the normal
# values are 2^(4 - exponent) * (1 + mantissa / 2), e.g. 0b010 (exponent 1, mantissa 0) = 8.
_FP4_MAGNITUDES = (0.0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0)


def fp4_code() -> torch.Tensor:
    """bitsandbytes' 4-bit float code book (``get_4bit_type("fp4")``), shape ``(16,)``, float32.

    Bit 0b1000 is the sign, so entries 8 ... 15 are entries 0 ... 7 negated. The entries are in
    bit-pattern order, not sorted. Dividing by 12 maps the largest value to 1.
    """
    magnitudes = torch.tensor(_FP4_MAGNITUDES)  # (8,)
    return _with_sign_bit(magnitudes) / 12.0


def int4_code() -> torch.Tensor:
    """The symmetric 4-bit integer code book ``[7, 6, ..., 1, 0, 0, -1, ..., -7] / 7``, shape ``(16,)``.

    float32, the layout of bitsandbytes' ``get_4bit_type("int4")`` (bit 0b1000 is the sign; the
    pattern 0b0000 is +7/7). Rounding a weight scaled to [-1, 1] to the nearest entry is
    ``round(7 * w / absmax) / 7``: the evenly spaced code of the paper's "Int4" baseline.
    """
    positive = torch.arange(7, -1, -1, dtype=torch.float32)  # (8,) 7 ... 0
    negative = -torch.arange(0, 8, dtype=torch.float32)       # (8,) -0 ... -7
    return torch.cat([positive, negative]) / 7.0 + 0.0        # + 0.0 turns -0.0 into 0.0


def _with_sign_bit(magnitudes: torch.Tensor) -> torch.Tensor:
    """``(8,)`` magnitudes -> ``(16,)`` code whose bit 0b1000 negates. The pattern 0b1000 holds
    0.0, not -0.0 (``-0.0 + 0.0 == +0.0``), as bitsandbytes' table does."""
    return torch.cat([magnitudes, -magnitudes]) + 0.0


def dynamic_code() -> torch.Tensor:
    """bitsandbytes' signed 8-bit "dynamic" code book (``create_dynamic_map()``), shape ``(256,)``.

    Dettmers (2015, arXiv 1511.04561): a dynamic exponent covers seven decades, 1e-6 ... 1, and
    decade ``10^(i-6)`` gets ``2^i`` evenly spaced values (bin centres of ``linspace(0.1, 1)``) of
    each sign, so small numbers keep relative precision. With 0 and 1 that makes 256 values,
    sorted ascending, from about -0.993 to 1. Double quantization stores block scales in it.
    """
    values = [0.0, 1.0]
    for i in range(7):
        edges = torch.linspace(0.1, 1, 2**i + 1)         # (2^i + 1,) float32
        centres = (edges[:-1] + edges[1:]) / 2.0           # (2^i,)
        values += (10 ** (i - 6) * centres).tolist() + (-(10 ** (i - 6)) * centres).tolist()
    return torch.tensor(sorted(values), dtype=torch.float32)


CODE_BOOKS = {"nf4": nf4_code, "fp4": fp4_code, "int4": int4_code}
"""The 4-bit code books by name."""


def get_code(code: str | torch.Tensor) -> torch.Tensor:
    """The 4-bit code book named ``code`` (``"nf4"``, ``"fp4"`` or ``"int4"``), or ``code`` itself.

    A tensor is checked and returned as float32: it must hold 16 finite values in [-1, 1].
    """
    if isinstance(code, str):
        if code not in CODE_BOOKS:
            raise ValueError(f"unknown code {code!r}: expected one of {sorted(CODE_BOOKS)} or a (16,) tensor")
        return CODE_BOOKS[code]()
    if not isinstance(code, torch.Tensor):
        raise TypeError(f"code must be a name {sorted(CODE_BOOKS)} or a (16,) tensor, got {type(code).__name__}")
    if code.shape != (16,) or not code.is_floating_point():
        raise ValueError(f"a 4-bit code book is a float tensor of shape (16,), got {code.dtype} {tuple(code.shape)}")
    if not torch.isfinite(code).all() or code.abs().max() > 1:
        raise ValueError("a code book's values must be finite and lie in [-1, 1]")
    return code.float()
