"""4-bit blockwise quantization of a weight tensor, byte for byte what bitsandbytes stores.

``quantize_4bit`` = blockwise absmax scaling + nearest code value (:mod:`.blockwise`) + two indices
per byte (:mod:`.packing`), optionally with the block scales in 8 bits (:mod:`.double_quant`). It
returns the bytes and a :class:`QuantState`, the object that carries everything needed to undo it,
as ``bitsandbytes.functional.quantize_4bit`` does::

    packed, state = quantize_4bit(w, "nf4", blocksize=64, double_quant=True)
    w_back = dequantize_4bit(packed, state)        # shape and dtype of w

**Equal to bitsandbytes 0.50** (``quantize_4bit(w, blocksize=..., quant_type=..., compress_statistics=...)``
on the CPU) for NF4 and FP4, block sizes 32 ... 4096, float32/float16/bfloat16 inputs of any size:
the packed bytes, the absmax values, and with double quantization the 8-bit codes, second-level
scales and offset, are equal bit for bit. Known differences:

* **bitsandbytes' CPU ``dequantize_4bit`` is wrong when a row is not a whole number of blocks.** Its
  AVX-512 kernel (``cdequantize_blockwise_cpu_nf4_fp32`` and friends, called from
  ``bitsandbytes/backends/cpu/ops.py`` with ``m`` rows of ``n`` values) reads the scale of value
  ``(row, col)`` at ``absmax[row * (n // blocksize) + col // blocksize]``, which is right only when
  ``n`` is a multiple of ``blocksize``. It takes that path when the CPU has AVX-512 and ``n`` is a
  multiple of 16, and only in bitsandbytes' CPU build (``libbitsandbytes_cpu``, loaded when there is
  no CUDA GPU): its CUDA builds compile the same CPU kernel without AVX-512, so on a GPU machine the
  CPU dequantize is right. E.g. shape ``(1024, 64)`` in blocks of 128 decodes every row with the first
  block's scale (round-trip error 0.17 on weights of std 0.1, against 0.05 here). Its bytes and absmax are
  right; :func:`dequantize_4bit` decodes them by flat block index, which is right for every shape
  (bitsandbytes' own: ``dequantize_4bit(packed, QuantState.from_bitsandbytes(state))``).
  ``bnb.nn.Linear4bit``'s CPU forward decodes through the same kernel, so with the default block
  size 64 a layer whose ``in_features`` is a multiple of 16 but not of 64 (32, 48, 96, ...) computes
  with wrong weights; so do PEFT's merge into a 4-bit base and ``model.dequantize()``.
  ``docs/upstream/`` holds a stand-alone reproduction; ``tests/quant/test_quantize.py`` pins it.
* **A 1-D input comes back 2-D from bitsandbytes' CPU dequantize**: shape ``(1, n)`` for ``(n,)``
  (when ``n`` is even; an odd ``n`` takes its pure-PyTorch path, which keeps ``(n,)``). Here the
  result always has the input's shape.
* **Storage layout**: bitsandbytes returns the bytes as a ``(ceil(numel / 2), 1)`` column; here they
  are flat, ``(ceil(numel / 2),)``. Same bytes.
* bitsandbytes' 8-bit quantizer (double quantization) rounds through a 65,536-bin look-up table,
  which near a midpoint sometimes picks the farther code value; :mod:`.double_quant` copies that on
  purpose, so the codes are equal to bitsandbytes' rather than to the exactly nearest value.

Beyond bitsandbytes: ``code="int4"`` or any ``(16,)`` code book, and any power-of-two block size.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from lorakit.quant.blockwise import FLOAT_DTYPES, check_blocksize, n_blocks, nearest_code, quantize_blockwise, scale_blocks
from lorakit.quant.codes import CODE_BOOKS, dynamic_code, get_code
from lorakit.quant.double_quant import DoubleQuantState, double_dequantize, double_quantize
from lorakit.quant.packing import byte_table, pack_4bit


@dataclass(frozen=True, eq=False)
class QuantState:
    """What :func:`dequantize_4bit` needs besides the packed bytes (bitsandbytes' ``QuantState``).

    Fields, and where bitsandbytes keeps the same thing:

    * ``absmax``: one float32 scale per block, ``(ceil(numel / blocksize),)`` (bnb: ``absmax``); or,
      with double quantization, those scales in 8 bits, a :class:`DoubleQuantState` (bnb: the uint8
      ``absmax``, ``offset`` and ``state2``).
    * ``shape``, ``dtype``: the original tensor's shape and dtype, given back by dequantization.
    * ``code``: the ``(16,)`` float32 code book the indices point into (bnb: ``code``).
    * ``blocksize``: values per first-level scale (bnb: ``blocksize``).
    * ``quant_type``: the code book's name, ``"nf4"``, ``"fp4"``, ``"int4"``, or ``"custom"``.
    """

    absmax: torch.Tensor | DoubleQuantState
    shape: torch.Size
    code: torch.Tensor
    blocksize: int
    dtype: torch.dtype
    quant_type: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", torch.Size(self.shape))
        check_blocksize(self.blocksize)
        if self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32, float16 or bfloat16, got {self.dtype}")
        if not isinstance(self.code, torch.Tensor) or self.code.shape != (16,):
            raise ValueError("code must be the (16,) code book tensor")
        expected = n_blocks(self.shape.numel(), self.blocksize)
        count = self.absmax.codes.numel() if self.nested else self.absmax.numel()
        if count != expected:
            raise ValueError(f"shape {tuple(self.shape)} in blocks of {self.blocksize} needs {expected} "
                             f"absmax values, got {count}")

    @property
    def nested(self) -> bool:
        """True when the scales are double-quantized (bitsandbytes' name for it)."""
        return isinstance(self.absmax, DoubleQuantState)

    def scales(self) -> torch.Tensor:
        """The first-level absmax in float32, ``(n_blocks,)``: decoded from 8 bits when nested."""
        return double_dequantize(self.absmax) if self.nested else self.absmax

    def nbits(self) -> int:
        """Bits the scales take: 32 per absmax, or the nested state's codes, scales and offset."""
        return self.absmax.nbits() if self.nested else 32 * self.absmax.numel()

    @classmethod
    def from_bitsandbytes(cls, state) -> QuantState:
        """The same state, read from bitsandbytes' ``QuantState``, nested or not.

        ``state`` is what ``bitsandbytes.functional.quantize_4bit`` returns, or the ``quant_state`` of a
        ``bnb.nn.Linear4bit``'s weight (``layer.weight.quant_state``; its bytes are ``layer.weight.data``).
        Then ``dequantize_4bit(layer.weight.data, QuantState.from_bitsandbytes(layer.weight.quant_state))``
        decodes bitsandbytes' own bytes by flat block index, which is right for every shape, where
        bitsandbytes' CPU ``dequantize_4bit`` is not (see the module docs). Tensors stay on their
        device; a nested state (``compress_statistics=True``) becomes a :class:`DoubleQuantState`.
        """
        missing = [f for f in ("absmax", "shape", "code", "blocksize", "dtype", "quant_type", "nested")
                   if not hasattr(state, f)]
        if missing or isinstance(state, QuantState):
            raise TypeError(f"expected bitsandbytes.functional.QuantState, got {type(state).__name__}"
                            + (f" (no {', '.join(missing)})" if missing else ""))
        if state.nested:
            if not torch.equal(state.state2.code.float().cpu(), dynamic_code()):
                raise ValueError("the nested state's 8-bit code is not bitsandbytes' dynamic code, "
                                 "which lorakit.quant.double_quant decodes with")
            absmax = DoubleQuantState(state.absmax, state.state2.absmax, state.offset, state.state2.blocksize)
        else:
            absmax = state.absmax
        return cls(absmax, state.shape, state.code.float(), state.blocksize, state.dtype, state.quant_type)

    def to(self, device: torch.device | str) -> QuantState:
        """A copy whose tensors live on ``device``."""
        absmax = (dataclasses.replace(self.absmax, codes=self.absmax.codes.to(device),
                                      absmax=self.absmax.absmax.to(device), offset=self.absmax.offset.to(device))
                  if self.nested else self.absmax.to(device))
        return dataclasses.replace(self, absmax=absmax, code=self.code.to(device))


def quantize_4bit(w: torch.Tensor, code: str | torch.Tensor = "nf4", blocksize: int = 64,
                  double_quant: bool = False) -> tuple[torch.Tensor, QuantState]:
    """Quantize ``w`` to 4-bit indices into ``code``, packed two per byte, with one scale per block.

    Args:
        w: float32/float16/bfloat16 weights of any shape and size. Blocks are contiguous chunks of
            the flattened (row-major) tensor; the last one may be partial.
        code: ``"nf4"`` (QLoRA's default), ``"fp4"`` (bitsandbytes' default), ``"int4"``, or a
            ``(16,)`` code book tensor (bitsandbytes: ``quant_type``).
        blocksize: values per absmax scale, a power of two (QLoRA: 64).
        double_quant: store the scales in 8 bits too, in blocks of 256 (QLoRA's double
            quantization; bitsandbytes: ``compress_statistics=True``).

    Returns:
        ``(packed, state)``: ``packed`` uint8 of shape ``(ceil(numel / 2),)``, the first index of
        each pair in the high nibble (an odd count is padded with the index of 0.0, as bitsandbytes
        does); ``state`` a :class:`QuantState`.
    """
    values = get_code(code)
    indices, absmax = quantize_blockwise(w, values, blocksize)  # (numel,), (n_blocks,)
    if indices.numel() % 2:
        indices = torch.cat([indices, nearest_code(torch.zeros(1, device=indices.device), values).to(torch.uint8)])
    name = code if isinstance(code, str) else next(
        (n for n, make in CODE_BOOKS.items() if torch.equal(make(), values.cpu())), "custom")
    state = QuantState(double_quantize(absmax) if double_quant else absmax, w.shape, values, blocksize, w.dtype, name)
    return pack_4bit(indices), state


def dequantize_4bit(packed: torch.Tensor, state: QuantState) -> torch.Tensor:
    """Undo :func:`quantize_4bit`: ``code[index] * absmax`` of its block, in ``state.shape`` and ``state.dtype``.

    Args:
        packed: the uint8 bytes from :func:`quantize_4bit` (any shape, ``ceil(numel / 2)`` bytes;
            bitsandbytes' ``(n, 1)`` column works too).
        state: the :class:`QuantState` returned with them.

    The product is computed in float32, then cast to ``state.dtype``.
    """
    if not isinstance(state, QuantState):
        hint = (": bitsandbytes' QuantState converts with QuantState.from_bitsandbytes(state)"
                if type(state).__module__.startswith("bitsandbytes") else "")
        raise TypeError(f"expected the lorakit QuantState returned by quantize_4bit, got "
                        f"{type(state).__module__}.{type(state).__name__}{hint}")
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8:
        raise TypeError(f"expected the packed uint8 bytes from quantize_4bit, got "
                        f"{packed.dtype if isinstance(packed, torch.Tensor) else type(packed).__name__}")
    numel = state.shape.numel()
    if packed.numel() != -(-numel // 2):
        raise ValueError(f"shape {tuple(state.shape)} holds {numel} values, which need {-(-numel // 2)} packed "
                         f"bytes, got {packed.numel()}")
    pairs = byte_table(state.code.to(packed.device))[packed.reshape(-1).long()]  # (bytes, 2): high, low nibble
    values = pairs.reshape(-1)[:numel]
    return scale_blocks(values, state.scales(), state.blocksize).reshape(state.shape).to(state.dtype)
