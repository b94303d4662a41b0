"""The recipe of notebook 06's comparison, shared by the notebook and ``scripts/producers/qalora_sweep.py``.

Both methods start from the same float model, train the same number of steps with the same
optimizer settings, and end in a deployable form:

* **QLoRA**: the frozen base is NF4 (blocks of 64, stored as its exact 4-bit round trip through
  :mod:`lorakit.quant`, bit-exact with bitsandbytes), LoRA on every linear layer but the head.
  Deployed by merging into a float16 model (:func:`merged_16bit`); to serve it in INT-b it must be
  quantized again (:func:`requantized`, round to nearest, groups as QA-LoRA's). A user who kept
  the float base can instead merge into W itself (:func:`merged_into_float`), then quantize once.
* **QA-LoRA**: the frozen base is INT-b with one scale and zero per group, QA-LoRA on the same
  layers (:func:`lorakit.qalora.to_qalora`); deployed by its exact merge, still INT-b.

Every function returns a new model and leaves its input alone (``copy.deepcopy``).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lorakit.evaluate import evaluate_qa
from lorakit.lora import inject_lora, lora_layers
from lorakit.quant import fake_quantize_model_
from lorakit.training.loop import TrainConfig, TrainResult, finetune
from lorakit.qalora.convert import group_quant_layers, quantize_model_groupwise, to_qalora
from lorakit.lora.merge import merge_and_unload


@dataclass
class CompareConfig:
    steps: int = 120             # optimizer steps, the same for both methods
    r: int = 16                  # LoRA rank of both adapters
    lora_alpha: float = 32       # scaling = alpha / r = 2
    lr: float = 2e-3             # the course's LoRA rate for the shipped model (P.lora_lr)
    batch_size: int = 16
    nf4_blocksize: int = 64      # QLoRA's NF4 block size
    seed: int = 0
    max_seconds: float | None = None   # a wall-clock cap on top of `steps` (None: none)

    def train_config(self) -> TrainConfig:
        return TrainConfig(lr=self.lr, batch_size=self.batch_size, max_steps=self.steps,
                           max_seconds=self.max_seconds, seed=self.seed)


def qlora_model(base: nn.Module, config: CompareConfig) -> nn.Module:
    """A copy of ``base`` with NF4 linear weights (their 4-bit round trip) and LoRA on every linear layer."""
    model = copy.deepcopy(base)
    fake_quantize_model_(model, "nf4", config.nf4_blocksize)
    torch.manual_seed(config.seed)
    return inject_lora(model, "all-linear", config.r, config.lora_alpha)


def qalora_model(base: nn.Module, config: CompareConfig, bits: int = 4, group_size: int = 32) -> nn.Module:
    """A copy of ``base`` with every linear layer but the head an INT-``bits`` :class:`QALoRALinear`."""
    model = copy.deepcopy(base)
    torch.manual_seed(config.seed)
    return to_qalora(model, group_size, bits, config.r, config.lora_alpha)


def train(model: nn.Module, tokenizer, examples: Sequence[dict], config: CompareConfig) -> TrainResult:
    """``lorakit.training.loop.finetune`` with the comparison's settings (trains what requires grad)."""
    return finetune(model, tokenizer, examples, config.train_config())


@torch.no_grad()
def merged_16bit(qlora: nn.Module, dtype: torch.dtype = torch.float16) -> nn.Module:
    """QLoRA's deployable form: a copy with LoRA merged into its dequantized NF4 base, stored in ``dtype``.

    The base of a :func:`qlora_model` is already NF4's round trip of W, so the sum is
    ``W_nf4 + s·B·A``, not ``W + s·B·A``; :func:`requantized` then rounds it a second time, to INT-b.
    The merged weights are rounded to ``dtype`` (float16, as QLoRA deploys) and kept in the model's
    compute dtype, so the evaluation sees exactly the stored values.
    """
    model = merge_and_unload(copy.deepcopy(qlora))   # plain nn.Linear layers again
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.weight.copy_(module.weight.to(dtype).to(module.weight.dtype))
    return model


@torch.no_grad()
def merged_into_float(base: nn.Module, qlora: nn.Module, dtype: torch.dtype = torch.float16) -> nn.Module:
    """QLoRA's update merged into the *original* float weights: a copy of ``base`` with ``W + s·B·A``.

    What a user who kept the unquantized base would deploy: the adapter trained over NF4 weights is
    added to W itself, not to NF4's round trip of W, so :func:`requantized` then rounds only once.
    ``qlora`` is a :func:`qlora_model` of ``base`` (its LoRA layers must name layers of ``base``);
    weights are rounded to ``dtype`` as in :func:`merged_16bit`. Neither input is changed.
    """
    if not isinstance(base, nn.Module) or not isinstance(qlora, nn.Module):
        raise TypeError("merged_into_float takes two nn.Modules: the float base and its QLoRA model")
    adapters = dict(lora_layers(qlora))
    if not adapters:
        raise ValueError("qlora has no LoRA layers: pass a qlora_model(base, ...) after training")
    model = copy.deepcopy(base)
    for name, layer in adapters.items():
        try:
            target = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"base has no layer {name!r}: qlora must be a qlora_model of this base") from None
        if not isinstance(target, nn.Linear) or target.weight.shape != layer.delta_weight().shape:
            raise ValueError(f"base's {name!r} is not an nn.Linear of the adapter's shape")
        merged = target.weight.float() + layer.delta_weight().to(target.weight.device)
        target.weight.copy_(merged.to(dtype).to(target.weight.dtype))
    return model


def requantized(model: nn.Module, bits: int, group_size: int) -> nn.Module:
    """A copy of a merged model with every linear layer but the head quantized to INT-b, round to nearest."""
    return quantize_model_groupwise(copy.deepcopy(model), bits, group_size)


def qalora_merged(qalora: nn.Module) -> nn.Module:
    """QA-LoRA's deployable form: a copy, merged into the zero points and unloaded (INT-b layers only)."""
    return merge_and_unload(copy.deepcopy(qalora))


def linear_storage_bits(model: nn.Module, float_bits: int = 16, zero_bits: int | None = None) -> int:
    """Bits of the model's linear weights, the head excluded: INT-b layers as stored, float ones at ``float_bits``.

    ``zero_bits`` as in :meth:`GroupQuantLinear.storage_bits` (None: integer zeros in ``bits`` bits;
    16 for the real-valued zeros of a merged QA-LoRA model). Adapters (``lora_A``/``lora_B``) are not counted.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    skip = {id(head)} | {id(getattr(m, name)) for m in model.modules() for name in ("lora_A", "lora_B")
                         if isinstance(getattr(m, name, None), nn.Module)}
    total = sum(layer.storage_bits(zero_bits) for _, layer in group_quant_layers(model))
    total += sum(float_bits * m.weight.numel() for m in model.modules()
                 if isinstance(m, nn.Linear) and id(m) not in skip)
    return total


@torch.no_grad()
def logits_rel_error(a: nn.Module, b: nn.Module, input_ids: torch.Tensor) -> float:
    """‖logits_a − logits_b‖ / ‖logits_b‖ on ``input_ids`` (float32)."""
    la, lb = a(input_ids).logits.float(), b(input_ids).logits.float()
    return ((la - lb).norm() / lb.norm()).item()


def exact_match(model: nn.Module, tokenizer, examples: Sequence[dict], batch_size: int = 32) -> dict:
    """``evaluate_qa`` with the per-example 0/1 list as ints, for bootstrap intervals."""
    result = evaluate_qa(model, tokenizer, examples, batch_size=batch_size)
    return {"exact_match": result["exact_match"], "correct": [int(c) for c in result["correct"]]}


__all__ = ["CompareConfig", "exact_match", "linear_storage_bits", "logits_rel_error",
           "merged_16bit", "merged_into_float", "qalora_merged", "qalora_model", "qlora_model", "requantized", "train"]
