"""An interactive explorer: pick a code book and a block size; read the error and the bits.

The widget only displays :func:`describe_quantization`, which is plain Python (and tested), so a
notebook run headless shows the same numbers through a direct call.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from lorakit.quant.codes import CODE_BOOKS
from lorakit.quant.error import quantization_mse
from lorakit.memory.bits import bits_per_parameter

BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


def describe_quantization(w: torch.Tensor, code: str = "nf4", blocksize: int = 64) -> str:
    """Two lines: the round trip's error on ``w`` (absolute and relative to ``mean(w**2)``) and the
    storage in bits per parameter without and with double quantization."""
    mse = quantization_mse(w, code, blocksize)
    relative = mse / float(w.detach().float().pow(2).mean())
    return (f"{code}, blocksize {blocksize}: MSE {mse:.3e} ({100 * relative:.2f}% of the mean square weight)\n"
            f"storage: {bits_per_parameter(blocksize):.3f} bits/parameter, "
            f"{bits_per_parameter(blocksize, double_quant=True):.3f} with double quantization")


def quant_explorer(w: torch.Tensor, codes: Sequence[str] = tuple(CODE_BOOKS),
                   blocksizes: Sequence[int] = BLOCKSIZES):
    """An ipywidgets box: code book buttons, block size slider, result text, for the weights ``w``."""
    try:
        import ipywidgets as widgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the explorer needs ipywidgets: pip install ipywidgets "
                          "(or call describe_quantization() directly)") from err
    code = widgets.ToggleButtons(options=list(codes), value="nf4" if "nf4" in codes else codes[0], description="code")
    blocksize = widgets.SelectionSlider(options=list(blocksizes), value=64 if 64 in blocksizes else blocksizes[0],
                                        description="blocksize")
    result = widgets.HTML()

    def update(_change=None) -> None:
        result.value = f"<pre>{describe_quantization(w, code.value, blocksize.value)}</pre>"

    for widget in (code, blocksize):
        widget.observe(update, names="value")
    update()
    return widgets.VBox([code, blocksize, result])
