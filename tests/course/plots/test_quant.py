"""lorakit.course.plots.quant: every figure draws, with labelled axes (Agg backend, tiny inputs)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lorakit.course.plots.quant import (plot_blocksize_sweep, plot_code_books, plot_code_usage,  # noqa: E402
                                        plot_perplexity, plot_weight_histograms)
from lorakit.quant import code_usage, get_code  # noqa: E402

CODES = ("int4", "fp4", "nf4")


def _labelled(fig):
    axes = [ax for ax in fig.axes if ax.axison]
    assert any(ax.get_xlabel() for ax in axes) and any(ax.get_ylabel() for ax in axes)
    plt.close(fig)


def test_weight_histograms():
    _labelled(plot_weight_histograms({f"w{i}": torch.randn(32, 32) for i in range(9)}, ncols=4))
    with pytest.raises(ValueError):
        plot_weight_histograms({})


def test_code_books_and_usage():
    w = torch.randn(4096)
    _labelled(plot_code_books({n: get_code(n) for n in CODES}, w / w.abs().max()))
    _labelled(plot_code_usage({n: code_usage(w, n, by_value=True) for n in CODES}))


def test_blocksize_sweep_and_perplexity():
    sizes = [32, 64, 128]
    _labelled(plot_blocksize_sweep(sizes, {"nf4": [1e-3, 2e-3, 3e-3]}, {"plain": [5.0, 4.5, 4.25]}))
    _labelled(plot_perplexity({"fp32": 10.0, "int4": 12.0, "nf4": 10.4}))
    fig = plot_perplexity({"fp32": (10.0, 9.5, 10.6), "nf4": (10.4, 9.9, 11.0)})
    assert "interval" in fig.axes[0].get_ylabel()
    _labelled(fig)
