"""Reading LoRA out of a PEFT model: each adapter's ΔW, its factors, and the base weights.

The bridge between PEFT's ``LoraLayer`` and lorakit's own LoRA: :func:`lora_delta_weights` is
PEFT's ``get_delta_weight`` (which feeds its merge, unmerge and ``add_weighted_adapter``) for every
layer; :func:`lora_factors` gives the ``A``, ``B`` and scalings that :mod:`lorakit.lora.combine`
combines the way ``add_weighted_adapter`` does.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def lora_delta_weights(peft_model, adapter: str) -> dict[str, torch.Tensor]:
    """``{module name: ΔW}`` of ``adapter`` in every LoRA layer (PEFT's ``get_delta_weight``)."""
    from peft.tuners.lora import LoraLayer

    return {name: module.get_delta_weight(adapter) for name, module in peft_model.named_modules()
            if isinstance(module, LoraLayer) and adapter in module.lora_A}



def lora_factors(peft_model, adapters: Sequence[str]) -> dict[str, tuple[list, list, list]]:
    """``{module name: (As, Bs, scalings)}`` of ``adapters`` in every LoRA layer that has them all."""
    from peft.tuners.lora import LoraLayer

    out = {}
    for name, module in peft_model.named_modules():
        if isinstance(module, LoraLayer) and all(a in module.lora_A for a in adapters):
            out[name] = ([module.lora_A[a].weight.detach() for a in adapters],
                         [module.lora_B[a].weight.detach() for a in adapters],
                         [module.scaling[a] for a in adapters])
    return out



def peft_combination_types() -> tuple[str, ...]:
    """Every ``combination_type`` this PEFT's ``add_weighted_adapter`` accepts, read from its signature."""
    import typing

    from peft.tuners.lora import LoraModel

    return typing.get_args(typing.get_type_hints(LoraModel.add_weighted_adapter)["combination_type"])



def base_weights(model) -> dict[str, torch.Tensor]:
    """The base model's parameters by their plain names, LoRA weights left out.

    A ``PeftModel``'s names carry ``base_model.model.`` and ``.base_layer``; they are stripped, so
    the result lines up with the base model's own ``state_dict()`` (compare before and after).
    """
    out = {}
    for name, param in model.named_parameters():
        if "lora_" in name:
            continue
        out[name.replace("base_model.model.", "", 1).replace(".base_layer", "")] = param.detach()
    return out


__all__ = ["base_weights", "lora_delta_weights", "lora_factors", "peft_combination_types"]
