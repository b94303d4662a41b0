"""4-bit blockwise quantization of a weight tensor, byte for byte what bitsandbytes stores.

``quantize_4bit`` = blockwise absmax scaling + nearest code value (:mod:`.blockwise`) + two indices
per byte (:mod:`.packing`). With ``code="nf4"`` or ``"fp4"`` and a blocksize of 32 ... 4096 the bytes
and scales equal ``bitsandbytes.functional.quantize_4bit(w, blocksize=..., quant_type=...)``.
"""
from __future__ import annotations

import torch

from .blockwise import check_blocksize, quantize_blockwise, scale_blocks
from .codes import get_code
from .packing import byte_table, pack_4bit


def quantize_4bit(w: torch.Tensor, code: str | torch.Tensor = "nf4",
                  blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``w`` to 4-bit indices into ``code``, packed two per byte, with one scale per block.

    Args:
        w: float32/float16/bfloat16 weights of any shape; ``w.numel()`` must be a multiple of
            ``blocksize``. Blocks are contiguous chunks of the flattened (row-major) tensor.
        code: ``"nf4"`` (QLoRA's default), ``"fp4"`` (bitsandbytes' default), ``"int4"``, or a
            ``(16,)`` code book tensor.
        blocksize: values per absmax scale, a power of two (QLoRA: 64).

    Returns:
        ``(packed, absmax)``: ``packed`` uint8 of shape ``(numel // 2,)``; ``absmax`` float32 of
        shape ``(numel // blocksize,)``. bitsandbytes stores the same bytes as a ``(numel // 2, 1)``
        column.
    """
    indices, absmax = quantize_blockwise(w, get_code(code), blocksize)  # (numel,), (n_blocks,)
    return pack_4bit(indices), absmax


def dequantize_4bit(packed: torch.Tensor, absmax: torch.Tensor, shape: tuple[int, ...] | torch.Size,
                    code: str | torch.Tensor = "nf4", blocksize: int = 64,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Undo :func:`quantize_4bit`: ``code[index] * absmax`` of its block, reshaped to ``shape``.

    Args:
        packed: uint8 bytes from :func:`quantize_4bit` (any shape, ``numel(shape) // 2`` bytes).
        absmax: float32 scales, shape ``(numel(shape) // blocksize,)`` (from :func:`quantize_4bit`
            or :func:`lorakit.quant.double_dequantize`).
        shape: the original tensor's shape.
        code, blocksize: as given to :func:`quantize_4bit`.
        dtype: the returned dtype; the product is computed in float32 first.

    Returns:
        A tensor of ``shape`` and ``dtype``.
    """
    numel = torch.Size(shape).numel()
    check_blocksize(blocksize, numel)
    if packed.numel() * 2 != numel:
        raise ValueError(f"shape {tuple(shape)} holds {numel} values, which need {numel // 2} packed bytes, "
                         f"got {packed.numel()}")
    if packed.dtype != torch.uint8:
        raise TypeError(f"expected the packed uint8 bytes from quantize_4bit, got {packed.dtype}")
    pairs = byte_table(get_code(code).to(packed.device))[packed.reshape(-1).long()]  # (numel // 2, 2): high, low nibble
    return scale_blocks(pairs.reshape(-1), absmax, blocksize).reshape(shape).to(dtype)
