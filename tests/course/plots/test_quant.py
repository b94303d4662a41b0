"""lorakit.course.plots.quant: every figure draws, with labelled axes (Agg backend, tiny inputs)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lorakit.course.plots.quant import (plot_blocksize_sweep, plot_code_books, plot_code_usage,  # noqa: E402
                                        plot_perplexity_gaps, plot_weight_histograms)
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
    gaps = {"int4 - fp32": (0.0088, 0.0064, 0.0111), "nf4 - fp32": (0.0051, 0.0028, 0.0075)}
    fig = plot_perplexity_gaps(gaps, margin=0.01)
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert low < -0.01 and high > 0.0111              # the band and every interval fit: nothing is cut off
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert [name for _, name in ticks] == ["nf4 - fp32", "int4 - fp32"]   # bottom to top: the first row on top
    _labelled(fig)
    with pytest.raises(ValueError, match="margin"):
        plot_perplexity_gaps(gaps, margin=0)
    with pytest.raises(ValueError, match="low <= mean <= high"):
        plot_perplexity_gaps({"a - b": (0.01, 0.02, 0.03)}, margin=0.01)
    with pytest.raises(ValueError, match="at least one"):
        plot_perplexity_gaps({}, margin=0.01)
