"""Fake quantization: replace weights by their quantize -> dequantize round trip.

The model keeps computing in float, but every linear weight carries exactly the rounding error
its 4-bit storage would. That is enough to compare code books by perplexity (QLoRA's Table 2)
without 4-bit kernels.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from lorakit.quant.quantize import dequantize_4bit, quantize_4bit


def fake_quantize(w: torch.Tensor, code: str | torch.Tensor = "nf4", blocksize: int = 64,
                  double_quant: bool = False) -> torch.Tensor:
    """``w`` after 4-bit blockwise quantization and back: same shape and dtype as ``w``.

    With ``double_quant`` the block scales also go through the 8-bit round trip (QLoRA's NF4+DQ).
    """
    packed, state = quantize_4bit(w, code, blocksize, double_quant=double_quant)
    return dequantize_4bit(packed, state)


@torch.no_grad()
def fake_quantize_model_(model: nn.Module, code: str | torch.Tensor = "nf4", blocksize: int = 64,
                         double_quant: bool = False, skip: Iterable[str] = ("lm_head",)) -> list[str]:
    """Fake-quantize, in place, the weight of every ``nn.Linear`` in ``model``.

    Args:
        model: any module; biases, norms and embeddings are left alone.
        code, blocksize, double_quant: as in :func:`fake_quantize`.
        skip: module names whose last component is in ``skip`` are left alone. QLoRA keeps
            ``lm_head`` in 16 bits (it is also tied to the embeddings in small models).

    Returns:
        The names of the layers that were quantized.
    """
    skip = set(skip)
    done = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] not in skip:
            module.weight.copy_(fake_quantize(module.weight, code, blocksize, double_quant))
            done.append(name)
    if not done:
        raise ValueError(f"no nn.Linear layers to quantize in {type(model).__name__} (skipped: {sorted(skip)})")
    return done
