"""Folding LoRA into the base weights, reversibly or for good (PEFT's names for each).

At inference a LoRA layer costs one extra thin matmul pair. Merging adds s·B·A into the base weight
so the forward is one matmul again:

* :func:`merge_lora` / :func:`unmerge_lora`: reversible, as PEFT's ``merge_adapter()`` /
  ``unmerge_adapter()``. Every :class:`LoRALinear` stays in place with ``merged=True``; its A and B
  are kept, so ``unmerge_lora`` subtracts the same ΔW again (up to the rounding of the weight's
  dtype) and training or switching adapters can go on.
* :func:`merge_and_unload`: irreversible, as PEFT's ``merge_and_unload()``. Each wrapper is replaced
  by its base ``nn.Linear`` holding W0 + s·B·A: a plain model, A and B gone.

All three work in place and return the model, for chaining.
"""
from __future__ import annotations

from torch import nn

from lorakit.lora.inject import lora_layers


def merge_lora(model: nn.Module) -> nn.Module:
    """Add s·B·A into every LoRA layer's base weight; layers stay :class:`LoRALinear` (``merged=True``).

    Layers already merged are left alone, so merging twice is harmless. Undo with :func:`unmerge_lora`.
    """
    for _, layer in lora_layers(model):
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Subtract s·B·A from every merged LoRA layer's base weight again (``merged=False``)."""
    for _, layer in lora_layers(model):
        layer.unmerge()
    return model


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer and put its plain base layer back: no LoRA modules are left.

    Irreversible: A and B are dropped, each target is an ``nn.Linear`` with weight W0 + s·B·A.
    Parameters keep their ``requires_grad`` (the base weights stay frozen).
    """
    for name, layer in list(lora_layers(model)):
        layer.merge()
        model.set_submodule(name, layer.base_layer)
    return model
