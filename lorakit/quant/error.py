"""How good a code book is on given weights: the round trip's mean squared error, and how evenly
the 16 code values are used."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from lorakit.quant.blockwise import quantize_blockwise
from lorakit.quant.codes import get_code
from lorakit.quant.fake import fake_quantize


def quantization_mse(weights: torch.Tensor | Iterable[torch.Tensor], code: str | torch.Tensor = "nf4",
                     blocksize: int = 64, double_quant: bool = False) -> float:
    """Mean squared error of the 4-bit round trip, over all values of ``weights``.

    ``weights`` is one tensor or several (e.g. every linear weight of a model); each tensor is
    quantized on its own, as a model's layers are, and the squared errors are pooled.
    """
    tensors = [weights] if isinstance(weights, torch.Tensor) else list(weights)
    if not tensors:
        raise ValueError("quantization_mse needs at least one tensor")
    total, count = 0.0, 0
    for w in tensors:
        error = fake_quantize(w, code, blocksize, double_quant).float() - w.detach().float()
        total += float(error.pow(2).sum())
        count += w.numel()
    return total / count


def code_usage(w: torch.Tensor, code: str | torch.Tensor = "nf4", blocksize: int = 64,
               by_value: bool = False) -> torch.Tensor:
    """The fraction of ``w``'s values quantized to each code value: shape ``(16,)``.

    Entry ``i`` is for the bit pattern ``i``; with ``by_value`` entry ``k`` is for the ``k``-th
    smallest code value instead (FP4 and INT4 are not stored in value order). An equal-probability
    code on matching data uses every value about 1/16 of the time.
    """
    values = get_code(code)
    indices, _ = quantize_blockwise(w, values, blocksize)
    usage = torch.bincount(indices.long(), minlength=16).float() / indices.numel()
    return usage[torch.argsort(values, stable=True)] if by_value else usage
