"""LoRALinear: a frozen ``nn.Linear`` plus a trainable low-rank update, h = W0·x + s·B·A·x.

Hu et al. 2021 (arXiv 2106.09685, §4.1): instead of learning a full ΔW (out × in), learn
B (out × r) and A (r × in) with r ≪ min(out, in), so ΔW = B·A has rank at most r. B starts at
zero, so ΔW = 0 and the wrapped model is exactly the base model at step 0.

The layer *wraps* the base layer (``self.base_layer``) instead of inheriting from it, and its
field names (``r``, ``lora_alpha``, ``lora_A``, ``lora_B``, ``scaling``, ``merged``) are PEFT's,
so a state dict of this layer lines up with a PEFT LoRA adapter's.
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn


def scaling_factor(r: int, lora_alpha: float, use_rslora: bool = False) -> float:
    """The factor s in h = W0·x + s·B·A·x.

    LoRA (Hu et al., §4.1) uses s = α / r, which reduces the need to retune the learning rate
    when r changes and α is fixed. rsLoRA (Kalajdzievski 2023, arXiv 2312.03732) shows that α / r
    shrinks the update as r grows (B·A·x grows like √r, not r) and uses s = α / √r instead.

    Args:
        r: the rank, a positive int.
        lora_alpha: α, a positive number.
        use_rslora: ``True`` for α / √r, ``False`` (default) for α / r.
    """
    check_rank(r)
    if isinstance(lora_alpha, bool) or not isinstance(lora_alpha, numbers.Real):
        raise TypeError(f"lora_alpha must be a positive number, got {lora_alpha!r}")
    if not lora_alpha > 0:
        raise ValueError(f"lora_alpha must be a positive number, got {lora_alpha}")
    return lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r


def check_rank(r) -> None:
    """Raise a TypeError / ValueError unless ``r`` is a positive int (a LoRA rank)."""
    if isinstance(r, bool) or not isinstance(r, numbers.Integral):
        raise TypeError(f"r (the LoRA rank) must be a positive int, got {r!r} ({type(r).__name__})")
    if r <= 0:
        raise ValueError(f"r (the LoRA rank) must be a positive int, got {r}")


class LoRALayer(nn.Module):
    """The skeleton every adapter layer here shares (as PEFT's LoRA variants share ``LoraLayer``).

    A frozen ``base_layer``, a trainable pair ``lora_A`` (r, n_in) / ``lora_B`` (out, r) in float32,
    ``scaling``, dropout on the LoRA branch's input, and a ``merged`` flag. Forward:
    ``base_layer(x) + lora_B(lora_A(lora_input(dropout(x)))) * scaling``. A variant says what A
    reads (:meth:`lora_input`: ``x`` itself for LoRA, group sums for QA-LoRA), how A starts
    (:meth:`reset_lora_parameters`) and how the update folds into the base (:meth:`_fold`);
    :meth:`merge`, :meth:`unmerge` and :func:`lorakit.lora.merge.merge_and_unload` are written once.
    """

    def __init__(self, base_layer: nn.Module, r: int, lora_alpha: float, n_in: int, device: torch.device,
                 lora_dropout: float = 0.0, use_rslora: bool = False):
        if not 0.0 <= lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {lora_dropout}")
        scaling = scaling_factor(r, lora_alpha, use_rslora)
        super().__init__()
        self.scaling = scaling
        self.r, self.lora_alpha, self.use_rslora = int(r), lora_alpha, use_rslora
        self.base_layer = base_layer.requires_grad_(False)
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(n_in, self.r, bias=False, device=device, dtype=torch.float32)
        self.lora_B = nn.Linear(self.r, self.out_features, bias=False, device=device, dtype=torch.float32)
        self.merged = False
        self.reset_lora_parameters()

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    def reset_lora_parameters(self) -> None:
        """A ~ Kaiming-uniform(a=√5) (nn.Linear's and PEFT's default), B = 0, so B·A = 0."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def lora_input(self, x: torch.Tensor) -> torch.Tensor:
        """What ``lora_A`` reads, from the (dropped-out) input: ``x`` itself in plain LoRA."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        result = self.base_layer(x)
        if self.merged:
            return result
        h = self.lora_A(self.lora_input(self.lora_dropout(x.to(self.lora_A.weight.dtype))))  # (..., r)
        # Add in float32, then cast back, in the same order as PEFT (bit-identical in fp16/bf16).
        return (result + self.lora_B(h) * self.scaling).to(result.dtype)                    # (..., out)

    def _fold(self, sign: int) -> None:
        """Add (``sign`` = 1) or subtract (``sign`` = -1) the update in the base layer."""
        raise NotImplementedError

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base layer, so the forward is the base alone (no-op if merged)."""
        if not self.merged:
            self._fold(1)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update out of the base layer again (no-op if not merged)."""
        if self.merged:
            self._fold(-1)
            self.merged = False

    def extra_repr(self) -> str:
        rs = ", use_rslora=True" if self.use_rslora else ""
        return f"r={self.r}, lora_alpha={self.lora_alpha}, scaling={self.scaling:.4g}{rs}, merged={self.merged}"


class LoRALinear(LoRALayer):
    """A frozen linear layer plus a trainable rank-``r`` update, as PEFT's ``lora.Linear``.

    Forward: ``base_layer(x) + lora_B(lora_A(lora_dropout(x))) * scaling``, i.e.
    y = x·W0ᵀ + b + s·x·Aᵀ·Bᵀ, computed without ever forming the (out, in) matrix B·A.

    Args:
        base: the layer to adapt; it is frozen (``requires_grad=False``) and kept as
            ``self.base_layer``. Any ``nn.Linear`` (subclasses included) works.
        r: the rank of the update, a positive int (PEFT's default is 8).
        lora_alpha: α; the update is scaled by ``scaling`` = α / r (α / √r with rsLoRA).
        lora_dropout: dropout probability applied to the input of the LoRA branch only.
        use_rslora: scale by α / √r instead of α / r (see :func:`scaling_factor`).

    Attributes:
        lora_A: ``nn.Linear(in_features, r, bias=False)``, weight (r, in), Kaiming-uniform (a=√5).
        lora_B: ``nn.Linear(r, out_features, bias=False)``, weight (out, r), zeros.
        merged: ``True`` while s·B·A has been added into ``base_layer.weight``.

    LoRA weights are kept in float32 even when the base layer is fp16/bf16 (as PEFT does by
    default), so that small optimizer updates are not rounded away.
    """

    def __init__(self, base: nn.Linear, r: int, lora_alpha: float, lora_dropout: float = 0.0,
                 use_rslora: bool = False):
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        super().__init__(base, r, lora_alpha, base.in_features, base.weight.device,
                         lora_dropout, use_rslora)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling · B·A, shape (out_features, in_features), in float32."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling  # (out, r) @ (r, in)

    def _fold(self, sign: int) -> None:
        weight = self._mergeable_weight()
        if sign > 0:
            weight += self.delta_weight()  # added in float32, rounded once to the weight's dtype (as PEFT)
        else:
            weight -= self.delta_weight()

    def _mergeable_weight(self) -> torch.Tensor:
        weight = self.base_layer.weight
        if not weight.dtype.is_floating_point:
            raise TypeError(f"cannot merge into a {weight.dtype} (quantized) weight; dequantize the "
                            "base layer first, then merge")
        return weight.data


__all__ = ["LoRALayer", "LoRALinear", "check_rank", "scaling_factor"]
