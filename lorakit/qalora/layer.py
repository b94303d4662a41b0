"""QALoRALinear: a frozen INT-b group-quantized weight plus a LoRA update that merges into it exactly.

QA-LoRA (Xu et al. 2023, arXiv 2309.14717, §3.2-3.3, Algorithm 1). A QLoRA adapter's update
s·B·A is a dense (out, in) matrix: added to a quantized weight it gives a weight that is no longer
on the quantization grid, so deploying it in low bits means quantizing again and losing accuracy.
QA-LoRA makes the update *constant inside every quantization group*: A sees the input summed over
each group of ``group_size`` features, so A has ``in_features // group_size`` inputs and

    s · B · A · pool(x) = Σ_i x_i · s · (B·A)[j, i // group_size]

i.e. ΔW[j, i] = s · (B·A)[j, l] for every input i of group l. Inside group (j, l) the weight is
``scales[j, l] · (codes[j, i] − zeros[j, l])``, so adding one constant per group is the same as
moving the zero point:

    zeros'[j, l] = zeros[j, l] − s · (B·A)[j, l] / scales[j, l]

and the merged layer keeps the same integer codes and scales. The new zero points are real numbers,
not integers: the paper's repository says (README) to decode GPTQ's packed integer zeros to
float16 first, and its ``merge.py`` subtracts the update from them, so they stay floats.

Pooling, three spellings of one idea (all differ by a constant factor, which A absorbs; under Adam
that factor changes the effective step size of A, so it is not neutral in training):

* the paper's Algorithm 1 and this module: the **sum** over each group;
* the paper's code (``peft_utils.py``): ``nn.AvgPool1d(group_size)``, the **mean**, and a merge
  that divides by ``group_size`` to match;
* PEFT's ``QALoraLinearVariant`` (``use_qalora=True``): the mean times the *number of groups*,
  ``x.view(..., in // g, g).mean(-1) * (in // g)``, i.e. the sum × (in // g) / g.

Left out: GPTQ's error-correcting quantization (the base is rounded to nearest) and packed kernels.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lorakit.lora.layer import LoRALayer
from lorakit.qalora.groupwise import check_bits, check_quant_group_size
from lorakit.qalora.linear import GroupQuantLinear


def pool_groups(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Sum ``x`` over consecutive groups of ``group_size`` features: (..., in) -> (..., in // group_size).

    Example: ``pool_groups(tensor([1., 2, 3, 4, 5, 6]), 2)`` is ``tensor([3., 7, 11])``.
    """
    check_quant_group_size(group_size, x.shape[-1], "the input")
    return x.unflatten(-1, (-1, group_size)).sum(dim=-1)  # (..., L, g) -> (..., L)


class QALoRALinear(LoRALayer):
    """A frozen group-quantized copy of a linear layer plus a trainable QA-LoRA update.

    Forward: ``base_layer(x) + lora_B(lora_A(pool_groups(dropout(x), group_size))) * scaling``.

    Args:
        base: the ``nn.Linear`` to adapt; its weight is quantized to ``bits`` bits with one scale and
            zero point per group (round to nearest, :func:`lorakit.qalora.quantize_groupwise`) and
            kept as ``self.base_layer``, a :class:`GroupQuantLinear`. The float weight is not kept.
        r: rank of the update, a positive int.
        lora_alpha: α; ``scaling`` = α / r (as in LoRA).
        group_size: input features per quantization group, and per pooled input of A; must divide
            ``base.in_features`` (the paper's default: 32).
        bits: code width, 2 … 8 (the paper: 4, 3, 2).
        lora_dropout: dropout on the LoRA branch's input.

    Attributes:
        lora_A: ``nn.Linear(in_features // group_size, r)``, weight (r, L), uniform in
            ±1/√in_features: PEFT's Kaiming-uniform (a=√5) bound for a layer that sees all
            ``in_features`` inputs, not the L pooled ones. Each pooled input is a sum of
            ``group_size`` inputs, about √group_size times larger than one, so the bound for
            fan_in = L would start A·pool(x) √group_size times larger than LoRA's A·x; under Adam,
            B's steps then move the output √group_size times more (an effective learning rate that
            grows with the group size). With this bound A·pool(x) starts at LoRA's scale.
            (The paper's code pools with the mean and uses Xavier-uniform.)
        lora_B: ``nn.Linear(r, out_features)``, weight (out, r), zeros, so the layer starts as the
            quantized base.
        merged: ``True`` while the update is folded into ``base_layer.zeros``.

    LoRA weights are float32 over a base of any dtype, as in :class:`lorakit.lora.LoRALinear`.
    """

    def __init__(self, base: nn.Linear, r: int, lora_alpha: float, group_size: int = 32, bits: int = 4,
                 lora_dropout: float = 0.0):
        if not isinstance(base, nn.Linear):
            raise TypeError(f"QALoRALinear wraps an nn.Linear, got {type(base).__name__}")
        check_bits(bits)
        check_quant_group_size(group_size, base.in_features, f"nn.Linear({base.in_features}, {base.out_features})")
        super().__init__(GroupQuantLinear.from_linear(base, bits, group_size), r, lora_alpha,
                         base.in_features // group_size, base.weight.device, lora_dropout)
        self.group_size = int(group_size)

    def reset_lora_parameters(self) -> None:
        """A uniform in ±1/√in_features (see the class docstring), B = 0, so the layer starts as the base."""
        bound = 1.0 / math.sqrt(self.in_features)   # PEFT's Kaiming-uniform (a=√5) bound, for fan_in = in_features
        nn.init.uniform_(self.lora_A.weight, -bound, bound)
        nn.init.zeros_(self.lora_B.weight)

    @property
    def bits(self) -> int:
        return self.base_layer.bits

    def group_delta(self) -> torch.Tensor:
        """s · B·A: the update of each group, shape (out_features, in_features // group_size), float32."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling  # (out, r) @ (r, L)

    def delta_weight(self) -> torch.Tensor:
        """The update as a full (out_features, in_features) matrix: each group's value repeated."""
        return self.group_delta().repeat_interleave(self.group_size, dim=1)

    def zero_shift(self) -> torch.Tensor:
        """How much merging moves each zero point: −s·(B·A) / scales, shape (out, L)."""
        return -self.group_delta() / self.base_layer.scales

    def lora_input(self, x: torch.Tensor) -> torch.Tensor:
        """A reads the input summed over each group: (..., in_features) -> (..., in_features // group_size)."""
        return pool_groups(x, self.group_size)

    def _fold(self, sign: int) -> None:
        """Move the zero points by the update (codes and scales are not touched; exact up to float rounding)."""
        if sign > 0:
            self.base_layer.zeros += self.zero_shift()
        else:
            self.base_layer.zeros -= self.zero_shift()


__all__ = ["QALoRALinear", "pool_groups"]
