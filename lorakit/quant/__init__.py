"""4-bit quantization from scratch, bit-exact with bitsandbytes: NF4 and double quantization.

* :mod:`.nf4`: the NF4 code book from normal quantiles.
* :mod:`.codes`: FP4, INT4 and the 8-bit dynamic code; code books by name.
* :mod:`.blockwise`: blockwise absmax scaling and nearest-code rounding.
* :mod:`.packing`: two 4-bit indices per byte.
* :mod:`.quantize`: ``quantize_4bit`` -> ``(packed, QuantState)`` -> ``dequantize_4bit``;
  ``QuantState.from_bitsandbytes`` reads bitsandbytes' state, so its bytes decode here too. Its
  docstring lists every known difference from bitsandbytes (one is a bitsandbytes bug).
* :mod:`.double_quant`: the block scales in 8 bits.
* :mod:`.fake`: quantize -> dequantize round trips of a whole model's linear layers.
* :mod:`.error`: round-trip error and code usage.
* :mod:`.explorer`: an ipywidgets explorer of code book and block size.
"""
from lorakit.quant.blockwise import (blockwise_absmax, dequantize_blockwise, nearest_code, quantize_blockwise,
                        scale_blocks)
from lorakit.quant.codes import CODE_BOOKS, dynamic_code, fp4_code, get_code, int4_code
from lorakit.quant.double_quant import DoubleQuantState, double_dequantize, double_quantize
from lorakit.quant.error import code_usage, quantization_mse
from lorakit.quant.explorer import describe_quantization, quant_explorer
from lorakit.quant.fake import fake_quantize, fake_quantize_model_
from lorakit.quant.nf4 import NF4_OFFSET, nf4_code
from lorakit.quant.packing import byte_table, pack_4bit, unpack_4bit
from lorakit.quant.quantize import QuantState, dequantize_4bit, quantize_4bit

__all__ = [
    "CODE_BOOKS", "DoubleQuantState", "NF4_OFFSET", "QuantState", "blockwise_absmax",
    "byte_table", "code_usage", "dequantize_4bit", "dequantize_blockwise", "describe_quantization",
    "double_dequantize", "double_quantize", "dynamic_code", "fake_quantize", "fake_quantize_model_",
    "fp4_code", "get_code", "int4_code", "nearest_code", "nf4_code", "pack_4bit", "quant_explorer",
    "quantization_mse", "quantize_4bit", "quantize_blockwise", "scale_blocks", "unpack_4bit",
]
