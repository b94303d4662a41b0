"""Merging a QLoRA adapter three ways, and how much of the update survives re-quantization to NF4.

A QLoRA adapter was trained on the NF4 base :math:`Q(W)`; its update is :math:`\\Delta W = \\frac{\\alpha}{r}BA`.
Three ways to fold it into one plain weight matrix (:func:`merged_weight`):

* ``"base"``: into the original 16/32-bit weights, :math:`W + \\Delta W` (what
  :func:`lorakit.training.qlora.merge_into_base` does);
* ``"nf4_dequantized"``: into the decoded NF4 weights, :math:`Q(W) + \\Delta W`, kept in 16/32 bits: the
  function the adapter was trained with, exactly;
* ``"nf4_requantized"``: :math:`Q(Q(W) + \\Delta W)`, stored in NF4 again (a merge "into the 4-bit model").

:func:`kept_fraction` measures how much of :math:`\\Delta W` the re-quantized merge keeps along
:math:`\\Delta W`. The base weights already sit on NF4 code values, so a push smaller than about half a
code step is rounded back to where it was; scaling a real adapter's update by a factor
(:func:`scaled_deltas`) traces the fraction against the relative size :math:`|\\Delta W| / |W|`.
``scripts/producers/nf4_merge_curve.py`` writes the curve notebook 04 reads.
"""
from __future__ import annotations

import torch
from torch import nn

MERGES = ("base", "nf4_dequantized", "nf4_requantized")


def requantize(w: torch.Tensor, blocksize: int = 64, double_quant: bool = True) -> torch.Tensor:
    """``w`` rounded to NF4 (blocks of ``blocksize``) and decoded again, in float32 (:mod:`lorakit.quant`)."""
    from lorakit.quant import dequantize_4bit, quantize_4bit

    return dequantize_4bit(*quantize_4bit(w.float(), "nf4", blocksize=blocksize, double_quant=double_quant)).float()


def merged_weight(kind: str, base: torch.Tensor, nf4: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """One layer's merged weight (float32): ``kind`` is one of :data:`MERGES`.

    Args:
        base: the original unquantized weight :math:`W`.
        nf4: the decoded NF4 weight :math:`Q(W)` the adapter was trained on.
        delta: the adapter's update :math:`\\Delta W` (out × in), scaling included.
    """
    if kind not in MERGES:
        raise ValueError(f"kind must be one of {MERGES}, got {kind!r}")
    if not (base.shape == nf4.shape == delta.shape):
        raise ValueError(f"shapes differ: base {tuple(base.shape)}, nf4 {tuple(nf4.shape)}, delta {tuple(delta.shape)}")
    if kind == "base":
        return base.float() + delta.float()
    if kind == "nf4_dequantized":
        return nf4.float() + delta.float()
    return requantize(nf4.float() + delta.float())


def relative_size(nf4: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor]) -> float:
    """:math:`|\\Delta W| / |W|` over all layers together (Frobenius norms of the concatenated weights)."""
    _check_keys(nf4, deltas)
    num = sum(deltas[k].float().pow(2).sum() for k in deltas)
    den = sum(nf4[k].float().pow(2).sum() for k in deltas)
    return float((num / den).sqrt())


def kept_fraction(nf4: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor]) -> dict[str, float]:
    """How much of the update the re-quantized merge keeps, over all layers together.

    ``kept``: the projection of what the weights moved, :math:`Q(Q(W) + \\Delta W) - Q(W)`, on
    :math:`\\Delta W`, as a fraction of :math:`|\\Delta W|^2` (1: kept whole; 0: rounded away);
    ``noise``: the norm of the rest of the move, the rounding error, in units of :math:`|\\Delta W|`;
    ``moved``: the fraction of weights whose decoded value changed at all. It is not the fraction pushed
    past a rounding boundary: with double quantization the block scales are quantized too, so re-quantizing
    shifts most weights slightly even when :math:`\\Delta W = 0` (0.91 to 0.95 at every size of notebook 04's curve).
    """
    _check_keys(nf4, deltas)
    along = noise = norm2 = moved = count = 0.0
    for k, d in deltas.items():
        d, w = d.float(), nf4[k].float()
        step = requantize(w + d) - w
        along += float((step * d).sum())
        norm2 += float((d * d).sum())
        noise += float((step - d).pow(2).sum())
        moved += float((step != 0).sum())
        count += step.numel()
    if norm2 == 0:
        raise ValueError("the update is zero: nothing to keep")
    return {"kept": along / norm2, "noise": (noise / norm2) ** 0.5, "moved": moved / count}


def scaled_deltas(deltas: dict[str, torch.Tensor], factor: float) -> dict[str, torch.Tensor]:
    """Every layer's update multiplied by ``factor`` (> 0): a smaller or larger fine-tune of the same shape."""
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    return {k: d * factor for k, d in deltas.items()}


def adapter_parts(peft_model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(nf4, deltas)`` of a PEFT model on a 4-bit base: each ``Linear4bit``'s decoded weight and its adapter's
    update (``get_delta_weight``), keyed by the layer's name in the plain model (``model.layers.0...``)."""
    import bitsandbytes as bnb

    nf4, deltas = {}, {}
    for name, module in peft_model.named_modules():
        base = getattr(module, "base_layer", None)
        if isinstance(base, bnb.nn.Linear4bit) and hasattr(module, "get_delta_weight"):
            key = name.removeprefix("base_model.model.")
            nf4[key] = bnb.functional.dequantize_4bit(base.weight.data, base.weight.quant_state).float().cpu()
            deltas[key] = module.get_delta_weight(module.active_adapters[0]).detach().float().cpu()
    if not deltas:
        raise ValueError("no LoRA layer on a bitsandbytes Linear4bit found: is this a QLoRA PEFT model?")
    return nf4, deltas


def merged_model(plain: nn.Module, kind: str, base: dict[str, torch.Tensor], nf4: dict[str, torch.Tensor],
                 deltas: dict[str, torch.Tensor]) -> nn.Module:
    """Write each layer's :func:`merged_weight` into ``plain`` (the unquantized base model, changed in place).

    ``base`` holds the original weights (kept aside, so one plain model serves several merges)."""
    _check_keys(nf4, deltas)
    _check_keys(base, deltas)
    with torch.no_grad():
        for k, d in deltas.items():
            layer = plain.get_submodule(k)
            layer.weight.copy_(merged_weight(kind, base[k], nf4[k], d).to(layer.weight.dtype))
    return plain


def _check_keys(a: dict, b: dict) -> None:
    missing = sorted(set(b) - set(a))
    if missing:
        raise ValueError(f"no weight for the layers {missing[:3]}{' ...' if len(missing) > 3 else ''}")


__all__ = ["MERGES", "adapter_parts", "kept_fraction", "merged_model", "merged_weight", "relative_size",
           "requantize", "scaled_deltas"]
