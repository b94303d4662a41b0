"""Group-wise INT-b quantization: one scale and one zero point per group of input features.

QA-LoRA (Xu et al. 2023, arXiv 2309.14717, §3.1) and GPTQ store a weight W (out, in) as small
integers ("codes") plus, for every output row and every group of ``group_size`` consecutive input
features, a scale and a zero point:

    W[j, i] ≈ scales[j, l] · (codes[j, i] − zeros[j, l]),    l = i // group_size

This is asymmetric min-max quantization: the scale spreads the group's range over the
2^bits − 1 steps between code 0 and code 2^bits − 1, and the zero point is the code that stands for
0.0. Worked example, bits = 2 (codes 0…3), one group [−0.2, 0.05, 0.4]: scale = 0.6 / 3 = 0.2,
zero = round(0.2 / 0.2) = 1, codes = round(w / 0.2) + 1 = [0, 1, 3], back: [−0.2, 0.0, 0.4].
Every value is off by at most half a step (scale / 2).

As GPTQ's quantizer does, the range is widened to include 0 before it is cut into steps, so the
zero point is an integer in 0 … 2^bits − 1 and fits in ``bits`` bits (GPTQ packs it so). For a group
that holds both signs, which is nearly every group of a trained weight, that is plain min-max.
(The paper writes the same thing with a real offset, W̃ = α·⌊(W − β)/α⌉ + β with β = min.)

Left out: the codes are kept one per ``uint8`` (a GPTQ kernel packs 32/bits of them in an int32),
and GPTQ's error-correcting rounding: this is round to nearest (RTN).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import torch

MIN_BITS, MAX_BITS = 2, 8


class GroupQuantized(NamedTuple):
    """What :func:`quantize_groupwise` stores; :func:`dequantize_groupwise` needs nothing else.

    codes: uint8 (out, in), each in 0 … 2^bits − 1.
    scales: float32 (out, in // group_size), positive.
    zeros: float32 (out, in // group_size); integers straight from the quantizer, real-valued once
        a QA-LoRA update has been merged into them (see :meth:`lorakit.qalora.QALoRALinear.merge`).
    """
    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor

    @property
    def group_size(self) -> int:
        return self.codes.shape[-1] // self.scales.shape[-1]


def check_bits(bits) -> None:
    """Raise unless ``bits`` is an int from 2 to 8 (the code widths a uint8 code can hold)."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise TypeError(f"bits must be an int from {MIN_BITS} to {MAX_BITS}, got {bits!r} ({type(bits).__name__})")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an int from {MIN_BITS} to {MAX_BITS} (QA-LoRA uses 4, 3 and 2), got {bits}")


def check_quant_group_size(group_size, in_features: int, name: str = "the weight") -> None:
    """Raise unless ``group_size`` is a positive int that divides ``in_features``."""
    if isinstance(group_size, bool) or not isinstance(group_size, numbers.Integral):
        raise TypeError(f"group_size must be a positive int, got {group_size!r} ({type(group_size).__name__})")
    if group_size <= 0:
        raise ValueError(f"group_size must be a positive int (QA-LoRA: 32), got {group_size}")
    if in_features % group_size:
        fits = [g for g in (16, 32, 64, 128, 256) if in_features % g == 0]
        raise ValueError(f"group_size {group_size} does not divide the {in_features} input features of {name}; "
                         f"every group must be whole (sizes that divide {in_features}: {fits or 'none of 16…256'})")


def _check_weight(w: torch.Tensor) -> None:
    if not isinstance(w, torch.Tensor) or not w.is_floating_point():
        raise TypeError(f"expected a floating-point weight tensor, got {getattr(w, 'dtype', type(w).__name__)}")
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight (out_features, in_features), got shape {tuple(w.shape)}")


def quantize_groupwise(w: torch.Tensor, bits: int = 4, group_size: int = 32) -> GroupQuantized:
    """Asymmetric min-max quantization of ``w`` to ``bits``-bit codes, one scale and zero per group.

    Args:
        w: weight of shape (out_features, in_features), any float dtype (computed in float32).
        bits: code width, 2 … 8 (codes 0 … 2^bits − 1).
        group_size: consecutive input features sharing one scale and zero point; must divide
            ``in_features`` (QA-LoRA's default is 32; group_size = in_features is per-row).

    Returns:
        :class:`GroupQuantized` ``(codes, scales, zeros)``: uint8 (out, in), float32 (out, L),
        float32 (out, L) with L = in_features // group_size. ``dequantize_groupwise`` of it is
        within ``scales / 2`` of ``w`` everywhere.
    """
    check_bits(bits)
    _check_weight(w)
    check_quant_group_size(group_size, w.shape[1])
    qmax = 2 ** bits - 1
    grouped = w.detach().float().reshape(w.shape[0], -1, group_size)         # (out, L, g)
    low = grouped.amin(dim=-1).clamp(max=0.0)                                # (out, L), <= 0
    high = grouped.amax(dim=-1).clamp(min=0.0)                               # (out, L), >= 0
    scales = (high - low) / qmax
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))        # an all-zero group: any scale
    zeros = torch.round(-low / scales).clamp(0, qmax) + 0.0                  # (out, L), integers (no -0.0)
    codes = torch.round(grouped / scales[..., None]) + zeros[..., None]      # (out, L, g)
    codes = codes.clamp(0, qmax).to(torch.uint8).reshape(w.shape)
    return GroupQuantized(codes, scales, zeros)


def dequantize_groupwise(codes: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``scales · (codes − zeros)`` per group: the weight that ``(codes, scales, zeros)`` stand for.

    Args:
        codes: (out, in) integer codes from :func:`quantize_groupwise`.
        scales, zeros: (out, L) with L dividing ``in``; the group size is ``in // L``.
        dtype: the returned dtype (the arithmetic is done in float32).

    Returns:
        (out, in) tensor of ``dtype``.
    """
    if codes.dim() != 2 or scales.shape != zeros.shape or scales.dim() != 2 or scales.shape[0] != codes.shape[0]:
        raise ValueError(f"expected codes (out, in) and scales, zeros (out, L); got {tuple(codes.shape)}, "
                         f"{tuple(scales.shape)}, {tuple(zeros.shape)}")
    out_features, in_features = codes.shape
    if in_features % scales.shape[1]:
        raise ValueError(f"{scales.shape[1]} groups do not divide {in_features} input features")
    grouped = codes.float().reshape(out_features, scales.shape[1], -1)       # (out, L, g)
    w = scales.float()[..., None] * (grouped - zeros.float()[..., None])     # (out, L, g)
    return w.reshape(out_features, in_features).to(dtype)


def groupwise_bits(bits: int, group_size: int, scale_bits: int = 16, zero_bits: int | None = None) -> float:
    """Storage per weight in bits: the code plus each group's scale and zero, shared by ``group_size``.

    GPTQ stores float16 scales and ``bits``-bit integer zeros: ``bits + (16 + bits) / group_size``
    (4.625 for 4 bits, groups of 32). After a QA-LoRA merge the zeros are real numbers and need a
    float16 each: ``zero_bits=16`` gives ``bits + 32 / group_size`` (5.0).
    """
    check_bits(bits)
    zero_bits = bits if zero_bits is None else zero_bits
    return bits + (scale_bits + zero_bits) / group_size


__all__ = ["GroupQuantized", "MAX_BITS", "MIN_BITS", "check_bits", "check_quant_group_size", "dequantize_groupwise",
           "groupwise_bits", "quantize_groupwise"]
