"""Counting a model's parameters, and printing them the way PEFT does."""
from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts of ``model``.

    Shared tensors (tied input and output embeddings) are counted once, as
    ``model.parameters()`` and PEFT's ``get_nb_trainable_parameters`` do. Works on the meta device.
    """
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total


def format_trainable(trainable: int, total: int) -> str:
    """PEFT's line: ``trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622``."""
    if total <= 0:
        raise ValueError(f"total must be a positive parameter count, got {total}")
    return (f"trainable params: {trainable:,d} || all params: {total:,d} || "
            f"trainable%: {100 * trainable / total:.4f}")


def print_trainable_parameters(model: nn.Module) -> None:
    """Print :func:`format_trainable` for ``model`` (same output as PEFT's method of that name)."""
    print(format_trainable(*count_parameters(model)))
