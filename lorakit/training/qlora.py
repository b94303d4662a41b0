"""The QLoRA recipe with today's libraries: 4-bit loading, the checks around it, and merging back.

    quant = bnb_config()                                  # NF4 + double quantization, the course's dtype
    model = load_model(MODEL_ID, quantization_config=quant)
    report = compare_with_lorakit(model, reference)       # bitsandbytes' bytes == lorakit.quant's?
    model = prepare_model_for_kbit_training(model)        # PEFT: freeze, upcast, checkpointing
    ... LoRA on all linear layers, TRL's SFTTrainer with optim="paged_adamw_32bit", save ...
    merged = merge_into_base(adapter_dir, dtype=torch.float32)   # a 16/32-bit copy, not the 4-bit one

Each ``BitsAndBytesConfig`` flag is one function of :mod:`lorakit.quant` (built from scratch in
the notebook "NF4 and double quantization"):

=======================================  ===========================================================
``load_in_4bit=True``                    :func:`lorakit.quant.quantize_4bit`: two 4-bit indices/byte
``bnb_4bit_quant_type="nf4"``            ``code="nf4"``, :func:`lorakit.quant.nf4_code` (the default
                                         of bitsandbytes is ``"fp4"``: always say ``"nf4"``)
``bnb_4bit_use_double_quant=True``       ``double_quant=True``, :func:`lorakit.quant.double_quantize`
``bnb_4bit_compute_dtype``               the dtype weights are decoded to for each matmul
                                         (:func:`lorakit.quant.dequantize_4bit`'s ``dtype``)
(block size 64, not a flag)              ``blocksize=64``: ``Params4bit``'s default (transformers 5.25's
                                         ``BitsAndBytesConfig`` has no block-size option)
=======================================  ===========================================================
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lorakit.models.device import compute_dtype, get_device
from lorakit.quant import quantize_4bit

BLOCKSIZE = 64  # bitsandbytes' 4-bit block size, which transformers uses


def bnb_config(double_quant: bool = True, dtype: torch.dtype | None = None, quant_type: str = "nf4",
               quant_storage: torch.dtype | None = None):
    """``BitsAndBytesConfig`` for QLoRA: NF4, double quantization, compute in the course's dtype.

    Args:
        double_quant: QLoRA's double quantization of the block scales (``bnb_4bit_use_double_quant``).
        dtype: ``bnb_4bit_compute_dtype``; default :func:`lorakit.models.device.compute_dtype` (float32 on
            the CPU, float16 on a T4, bfloat16 from compute capability 8.0).
        quant_type: ``"nf4"`` (QLoRA's) or ``"fp4"`` (bitsandbytes' default: always name it).
        quant_storage: the dtype the packed 4-bit bytes are stored as (``bnb_4bit_quant_storage``);
            FSDP needs it equal to the model's dtype so it can shard them. Default ``torch.uint8``.
    """
    from transformers import BitsAndBytesConfig

    if quant_type not in ("nf4", "fp4"):
        raise ValueError(f"quant_type must be 'nf4' or 'fp4', got {quant_type!r}")
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                              bnb_4bit_use_double_quant=double_quant,
                              bnb_4bit_compute_dtype=dtype or compute_dtype(),
                              bnb_4bit_quant_storage=quant_storage or torch.uint8)


def linear4bit_layers(model: nn.Module) -> dict[str, nn.Module]:
    """``{name: layer}`` of every bitsandbytes ``Linear4bit`` in ``model`` (PEFT wrappers looked through)."""
    import bitsandbytes as bnb

    return {name.replace("base_model.model.", "").replace(".base_layer", ""): m
            for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}


def rows_are_whole_blocks(model: nn.Module) -> bool:
    """True when every 4-bit layer's ``in_features`` is a multiple of its block size.

    Such rows are always decoded right. bitsandbytes 0.50's CPU build, on an AVX-512 CPU, decodes
    rows whose length is a multiple of 16 but not of the block size with the wrong scales (see
    :mod:`lorakit.quant.quantize`): its backward pass, PEFT's merge into a 4-bit layer and
    ``model.dequantize()`` all decode through that kernel.
    """
    return all(m.in_features % m.weight.quant_state.blocksize == 0 for m in linear4bit_layers(model).values())


def compare_with_lorakit(model_4bit: nn.Module, reference: nn.Module) -> dict[str, int]:
    """Quantize ``reference``'s weights with :mod:`lorakit.quant` and compare with the loaded 4-bit model.

    For every ``Linear4bit`` of ``model_4bit`` (loaded with :func:`bnb_config`), the weight of the
    same name in ``reference`` (the unquantized model, in the dtype bitsandbytes quantized from) is
    quantized by :func:`lorakit.quant.quantize_4bit` and the stored bytes are compared: the packed
    indices, and the block scales (float32, or with double quantization the 8-bit codes, the
    second-level scales and the offset). Call it right after loading: on CPUs with AVX-512 BF16,
    bitsandbytes repacks the weights at the first inference-mode forward.

    Returns:
        ``{"layers": n, "bytes": total bytes compared, "equal_layers": n equal, "unequal_bytes": m}``.
    """
    layers = linear4bit_layers(model_4bit)
    ref = dict(reference.named_modules())
    total = unequal = equal_layers = 0
    for name, layer in layers.items():
        qs = layer.weight.quant_state
        w = ref[name].weight.detach().to(qs.dtype)
        packed, state = quantize_4bit(w, qs.quant_type, blocksize=qs.blocksize, double_quant=qs.nested)
        pairs = [(packed, layer.weight.data.reshape(-1))]
        if qs.nested:
            pairs += [(state.absmax.codes, qs.absmax), (state.absmax.absmax, qs.state2.absmax),
                      (state.absmax.offset.reshape(1), qs.offset.reshape(1))]
        else:
            pairs += [(state.absmax, qs.absmax)]
        diff = 0
        for ours, theirs in pairs:
            a, b = ours.contiguous().view(torch.uint8).cpu(), theirs.contiguous().view(torch.uint8).cpu()
            total += b.numel()
            diff += int((a != b).sum()) if a.shape == b.shape else b.numel()
        unequal += diff
        equal_layers += diff == 0
    return {"layers": len(layers), "bytes": total, "equal_layers": equal_layers, "unequal_bytes": unequal}


def merge_into_base(adapter_dir: str | Path, base_model_id: str | Path | None = None,
                    dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> nn.Module:
    """A plain model with the adapter merged into an unquantized (16/32-bit) copy of the base.

    The QLoRA way to ship a fine-tune: load the base again in ``dtype`` (not in 4 bits), put the
    trained adapter on it, and fold ``W + scaling · B A`` into each weight (PEFT's
    ``merge_and_unload``, called on the PEFT model, which returns the merged model). Merging into
    the 4-bit weights instead re-quantizes ``W + BA`` to NF4: a weight moves only when the update pushes
    it past a rounding boundary, so small updates are mostly rounded away (the notebook "QLoRA with paged
    optimizers" measures the fraction kept against the update's size, :mod:`lorakit.studies.nf4_merge`).

    Args:
        adapter_dir: a folder written by ``save_pretrained`` of a PEFT model.
        base_model_id: the base model; default the one named in the adapter's config.
        dtype: the merged model's dtype (float32 on the CPU; bfloat16/float16 on a GPU).
        device: where the merged model goes; default :func:`lorakit.models.device.get_device` (a float16
            model left on a CPU computes about ten times slower than a float32 one).
    """
    from peft import AutoPeftModelForCausalLM, PeftConfig

    kwargs = {"dtype": dtype}
    if base_model_id is not None:
        config = PeftConfig.from_pretrained(str(adapter_dir))
        config.base_model_name_or_path = str(base_model_id)
        kwargs["config"] = config
    peft_model = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), **kwargs)
    return peft_model.merge_and_unload().to(device or get_device())


def adapter_dtype(dtype: torch.dtype | None = None) -> torch.dtype:
    """The dtype LoRA weights train in, given the compute ``dtype`` (default :func:`compute_dtype`).

    bfloat16 only where the compute dtype is bfloat16 (a GPU of compute capability >= 8.0: the QLoRA
    paper's recipe); float32 everywhere else. On the CPU (float32 compute) a bfloat16 adapter would
    round away every Adam step smaller than 1/256 of the weight; on a T4 (float16 autocast) the
    gradient scaler needs float32 master weights, which is what PEFT gives LoRA by default.
    """
    return torch.bfloat16 if (dtype or compute_dtype()) == torch.bfloat16 else torch.float32


def cast_adapters_(model: nn.Module, dtype: torch.dtype) -> int:
    """Cast every trainable parameter of ``model`` to ``dtype`` in place; returns how many were cast.

    TRL's ``SFTTrainer`` casts the adapters of a quantized model to bfloat16 when it is built (on
    any device); calling this between building the trainer and ``trainer.train()`` (which creates the
    optimizer) restores the course's dtype rule (:func:`adapter_dtype`).
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
    cast = 0
    for p in model.parameters():
        if p.requires_grad and p.dtype != dtype:
            p.data = p.data.to(dtype)
            cast += 1
    return cast


def trainable_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` of every trainable parameter's data, taken before TRL's ``SFTTrainer`` is built."""
    return {name: p.data for name, p in model.named_parameters() if p.requires_grad}


def restore_adapters_(model: nn.Module, before: dict[str, torch.Tensor], dtype: torch.dtype) -> int:
    """Undo TRL's bfloat16 cast of the adapters: the original values (not their bfloat16 rounding) come
    back from ``before`` (:func:`trainable_snapshot`), then they are cast to ``dtype`` (the course's rule:
    :func:`adapter_dtype`). Call it between building the trainer and ``trainer.train()``, which creates
    the optimizer. Returns how many parameters were cast."""
    for name, p in model.named_parameters():
        if name in before:
            p.data = before[name]
    return cast_adapters_(model, dtype)


__all__ = ["BLOCKSIZE", "adapter_dtype", "bnb_config", "cast_adapters_", "compare_with_lorakit", "linear4bit_layers", "merge_into_base", "restore_adapters_",
           "rows_are_whole_blocks", "trainable_snapshot"]
