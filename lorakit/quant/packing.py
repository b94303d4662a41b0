"""Two 4-bit indices per byte, in bitsandbytes' order: the first index of each pair in the high
nibble, the second in the low nibble (``byte = first << 4 | second``)."""
from __future__ import annotations

import torch


def pack_4bit(indices: torch.Tensor) -> torch.Tensor:
    """Pack 4-bit indices (values 0 ... 15) two per byte.

    Args:
        indices: an integer tensor of any shape with an even number of elements.

    Returns:
        uint8, shape ``(numel // 2,)``: byte ``j`` holds ``indices[2j]`` in its high nibble and
        ``indices[2j + 1]`` in its low nibble (flattened order).
    """
    if indices.is_floating_point() or indices.dtype == torch.bool:
        raise TypeError(f"expected integer indices (e.g. uint8), got {indices.dtype}")
    flat = indices.reshape(-1)
    if flat.numel() % 2:
        raise ValueError(f"packing needs an even number of indices, got {flat.numel()}")
    if flat.numel() and (flat.min() < 0 or flat.max() > 15):
        raise ValueError("4-bit indices must lie in 0 ... 15")
    pairs = flat.to(torch.uint8).reshape(-1, 2)  # (numel // 2, 2)
    return (pairs[:, 0] << 4) | pairs[:, 1]


def unpack_4bit(packed: torch.Tensor) -> torch.Tensor:
    """Undo :func:`pack_4bit`: uint8 bytes of any shape -> uint8 indices, shape ``(2 * numel,)``."""
    if packed.dtype != torch.uint8:
        raise TypeError(f"expected packed uint8 bytes, got {packed.dtype}")
    flat = packed.reshape(-1)
    return torch.stack([flat >> 4, flat & 0x0F], dim=1).reshape(-1)  # (numel, 2) -> (2 * numel,)


def byte_table(code: torch.Tensor) -> torch.Tensor:
    """The two values each byte stands for: shape ``(256, 2)``, row ``b`` = ``(code[b >> 4], code[b & 15])``.

    Indexing this table with the packed bytes decodes both nibbles in one look-up, which is about
    twice as fast as :func:`unpack_4bit` followed by ``code[indices]``.
    """
    if code.shape != (16,):
        raise ValueError(f"a 4-bit code book has shape (16,), got {tuple(code.shape)}")
    byte = torch.arange(256, device=code.device)
    return torch.stack([code[byte >> 4], code[byte & 0x0F]], dim=1)
