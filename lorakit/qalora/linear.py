"""GroupQuantLinear: a linear layer stored as INT-b codes with one scale and zero per group.

The deployable form of both sides of notebook 06: a QA-LoRA layer after its merge, and a merged
QLoRA model re-quantized with round to nearest. The forward pass dequantizes the weight
(``scales · (codes − zeros)``, in float32, cast to the input's dtype) and does one matmul; a GPU
kernel would do the same without materialising the weight.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lorakit.qalora.groupwise import check_bits, dequantize_groupwise, groupwise_bits, quantize_groupwise


class GroupQuantLinear(nn.Module):
    """``y = x · Wᵀ + b`` with ``W = scales · (codes − zeros)`` per group; nothing in it trains.

    Args:
        codes: uint8 (out, in); scales, zeros: float32 (out, in // group_size), as returned by
            :func:`lorakit.qalora.quantize_groupwise`.
        bits: the code width the codes were made with (2 … 8), kept for storage counts.
        bias: optional (out,) tensor, kept as it is (not quantized).

    Build one from an ``nn.Linear`` with :meth:`from_linear`. Buffers, not parameters: an optimizer
    never sees them, and ``state_dict()`` holds ``codes``, ``scales``, ``zeros`` (and ``bias``).
    """

    def __init__(self, codes: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, bits: int,
                 bias: torch.Tensor | None = None):
        super().__init__()
        check_bits(bits)
        if codes.dtype != torch.uint8:
            raise TypeError(f"codes must be uint8 (from quantize_groupwise), got {codes.dtype}")
        if int(codes.max()) >= 2 ** bits:
            raise ValueError(f"codes go up to {int(codes.max())}, more than {bits} bits hold (max {2 ** bits - 1})")
        self.bits = int(bits)
        self.register_buffer("codes", codes)
        self.register_buffer("scales", scales.float())
        self.register_buffer("zeros", zeros.float())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        dequantize_groupwise(codes[:1], scales[:1], zeros[:1])  # shape check: fails early on mismatched inputs

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int = 4, group_size: int = 32) -> "GroupQuantLinear":
        """Round-to-nearest group-wise quantization of ``linear.weight`` (see :func:`quantize_groupwise`)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"GroupQuantLinear.from_linear takes an nn.Linear, got {type(linear).__name__}")
        q = quantize_groupwise(linear.weight, bits, group_size)
        return cls(q.codes, q.scales, q.zeros, bits, linear.bias)

    @property
    def in_features(self) -> int:
        return self.codes.shape[1]

    @property
    def out_features(self) -> int:
        return self.codes.shape[0]

    @property
    def group_size(self) -> int:
        return self.in_features // self.scales.shape[1]

    def weight_float(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The weight the layer computes with, (out, in), in ``dtype``."""
        return dequantize_groupwise(self.codes, self.scales, self.zeros, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features), in x's dtype."""
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight_float(x.dtype), bias)

    def storage_bits(self, zero_bits: int | None = None, scale_bits: int = 16) -> int:
        """Bits to store this layer's weight: codes, plus a scale and a zero per group (bias left out).

        ``zero_bits=None`` stores integer zeros in ``bits`` bits, as GPTQ does; a layer whose zeros
        are real-valued (after a QA-LoRA merge) needs a float for each: pass 16.
        """
        per_weight = groupwise_bits(self.bits, self.group_size, scale_bits, zero_bits)
        return round(per_weight * self.codes.numel())

    def zeros_are_integers(self) -> bool:
        """True while every zero point is a whole number (as the quantizer makes them)."""
        return bool(torch.equal(self.zeros, self.zeros.round()))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
                f"group_size={self.group_size}, bias={self.bias is not None}")


__all__ = ["GroupQuantLinear"]
