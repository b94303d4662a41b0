"""Whole models: put QA-LoRA in; quantize a model group-wise. Merging is :mod:`lorakit.lora.merge`'s.

    to_qalora(model, group_size=32, bits=4, r=16, lora_alpha=32)   # every linear but lm_head
    merge_lora(model)        # reversible: zero points moved, wrappers kept (unmerge_lora undoes it)
    merge_and_unload(model)  # destructive: each wrapper replaced by its INT-b GroupQuantLinear
    quantize_model_groupwise(model, bits=4, group_size=32)   # RTN INT-b, e.g. a merged QLoRA model

Targets are chosen as in :func:`lorakit.lora.find_targets` (``"all-linear"`` skips the output head,
as PEFT does), and every target is checked before the model is touched.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from torch import nn

from lorakit.lora.inject import find_targets
from lorakit.lora.layer import scaling_factor
from lorakit.qalora.groupwise import check_bits, check_quant_group_size
from lorakit.qalora.layer import QALoRALinear
from lorakit.qalora.linear import GroupQuantLinear


def qalora_layers(model: nn.Module) -> Iterator[tuple[str, QALoRALinear]]:
    """(name, layer) for every :class:`QALoRALinear` in ``model``, in module order."""
    for name, module in model.named_modules():
        if isinstance(module, QALoRALinear):
            yield name, module


def _checked_targets(model: nn.Module, target_modules, group_size: int) -> list[str]:
    """Target names; ValueError/TypeError before any change if one cannot take this group size."""
    if any(True for _ in qalora_layers(model)):
        raise ValueError(f"{type(model).__name__} already has QA-LoRA layers; merge_and_unload() it first")
    names = find_targets(model, target_modules)  # TypeError for a target that is not an nn.Linear
    for name in names:
        check_quant_group_size(group_size, model.get_submodule(name).in_features, name)
    return names


def to_qalora(model: nn.Module, group_size: int = 32, bits: int = 4, r: int = 16, lora_alpha: float = 32,
              target_modules: str | Iterable[str] = "all-linear", lora_dropout: float = 0.0) -> nn.Module:
    """Replace the target ``nn.Linear`` layers by :class:`QALoRALinear`, in place; freeze the rest.

    Args:
        model: any module; a Hugging Face causal LM keeps its ``lm_head`` (and embeddings) in float.
        group_size: input features per quantization group; must divide every target's in_features.
        bits: code width of the frozen base, 2 … 8.
        r, lora_alpha, lora_dropout: as in LoRA (scaling = α / r).
        target_modules: ``"all-linear"``, a module name, or a list of names (PEFT's matching).

    Returns:
        ``model``. Only the ``lora_A`` / ``lora_B`` weights have ``requires_grad=True``.

    Raises:
        ValueError: bad ``bits``/``r``, a group size that does not divide a target's in_features
            (the message names the layer), or a model that already has QA-LoRA layers.
        TypeError: a target that is not an ``nn.Linear``.
    """
    check_bits(bits)
    scaling_factor(r, lora_alpha)  # a bad r or alpha fails here, before the model is touched
    names = _checked_targets(model, target_modules, group_size)
    model.requires_grad_(False)
    for name in names:
        base = model.get_submodule(name)
        model.set_submodule(name, QALoRALinear(base, r, lora_alpha, group_size, bits, lora_dropout))
    return model


def quantize_model_groupwise(model: nn.Module, bits: int = 4, group_size: int = 32,
                             target_modules: str | Iterable[str] = "all-linear") -> nn.Module:
    """Round-to-nearest INT-b quantization of the target linear layers, in place.

    Each target ``nn.Linear`` becomes a :class:`GroupQuantLinear` (integer zeros). This is the
    "QLoRA, merged, then quantized again" path: post-training quantization without calibration,
    what a QLoRA model must go through to be served in low bits. Returns ``model``.
    """
    check_bits(bits)
    names = _checked_targets(model, target_modules, group_size)
    for name in names:
        model.set_submodule(name, GroupQuantLinear.from_linear(model.get_submodule(name), bits, group_size))
    return model


def group_quant_layers(model: nn.Module) -> Iterator[tuple[str, GroupQuantLinear]]:
    """(name, layer) for every :class:`GroupQuantLinear` in ``model`` (inside QA-LoRA wrappers too)."""
    for name, module in model.named_modules():
        if isinstance(module, GroupQuantLinear):
            yield name, module


__all__ = ["group_quant_layers", "qalora_layers", "quantize_model_groupwise", "to_qalora"]
