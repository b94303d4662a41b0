"""Folding LoRA into the base weights, reversibly or for good (PEFT's names for each).

At inference a LoRA layer costs one extra thin matmul pair. Merging adds s·B·A into the base weight
so the forward is one matmul again:

* :func:`merge_lora` / :func:`unmerge_lora`: reversible, as PEFT's ``merge_adapter()`` /
  ``unmerge_adapter()``. Every :class:`LoRALinear` stays in place with ``merged=True``; its A and B
  are kept, so ``unmerge_lora`` subtracts the same ΔW again (up to the rounding of the weight's
  dtype) and training or switching adapters can go on.
* :func:`merge_and_unload`: irreversible, as PEFT's ``merge_and_unload()``. Each wrapper is replaced
  by its base ``nn.Linear`` holding W0 + s·B·A: a plain model, A and B gone.

Every adapter layer built on :class:`lorakit.lora.layer.LoRALayer` merges here: :class:`LoRALinear`
(ΔW into the weight) and QA-LoRA's :class:`lorakit.qalora.QALoRALinear` (ΔW into the zero points).

All three work in place and return the model, for chaining.
"""
from __future__ import annotations

from torch import nn

from lorakit.lora.layer import LoRALayer


def adapter_layers(model: nn.Module) -> list[tuple[str, LoRALayer]]:
    """(name, layer) for every adapter layer (LoRA or QA-LoRA) in ``model``, in module order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALayer)]


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter layer's update into its base; layers stay in place (``merged=True``).

    Layers already merged are left alone, so merging twice is harmless. Undo with :func:`unmerge_lora`.
    """
    for _, layer in adapter_layers(model):
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Subtract s·B·A from every merged LoRA layer's base weight again (``merged=False``)."""
    for _, layer in adapter_layers(model):
        layer.unmerge()
    return model


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every adapter layer and put its base layer back: no LoRA modules are left.

    Irreversible: A and B are dropped; each LoRA target is an ``nn.Linear`` with weight W0 + s·B·A,
    each QA-LoRA target its INT-b ``GroupQuantLinear`` with the moved zero points.
    Parameters keep their ``requires_grad`` (the base weights stay frozen).
    """
    for name, layer in adapter_layers(model):
        layer.merge()
        model.set_submodule(name, layer.base_layer)
    return model


__all__ = ["adapter_layers", "merge_and_unload", "merge_lora", "unmerge_lora"]
