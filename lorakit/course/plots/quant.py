"""Figures for notebook 03 (NF4 and double quantization): weight histograms, code books over the
normal density, code usage, error and memory against block size, paired perplexity gaps between formats.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch

CODE_COLOURS = {"int4": "tab:blue", "fp4": "tab:orange", "nf4": "tab:green", "nf4_dq": "tab:olive",
                "fp32": "tab:grey"}


def _normal_pdf(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def plot_weight_histograms(weights: Mapping[str, torch.Tensor], ncols: int = 7, bins: int = 60,
                           title: str = "Linear weights with a fitted normal"):
    """A grid of histograms (density) of each tensor's values, with the normal of the same mean
    and standard deviation drawn over it."""
    if not weights:
        raise ValueError("plot_weight_histograms needs at least one tensor")
    nrows = math.ceil(len(weights) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols, 1.8 * nrows + 0.6), squeeze=False)
    for ax, (name, w) in zip(axes.flat, weights.items()):
        values = w.detach().float().reshape(-1).cpu()
        mean, std = values.mean().item(), values.std().item()
        ax.hist(values.numpy(), bins=bins, density=True, color="tab:blue", alpha=0.6)
        x = torch.linspace(mean - 4 * std, mean + 4 * std, 200)
        ax.plot(x, _normal_pdf(x, mean, std), color="black", linewidth=1)
        ax.set_title(f"{name}\nσ = {std:.3f}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(weights):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("density (1 / weight unit)", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("weight value", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_code_books(codes: Mapping[str, torch.Tensor], scaled: torch.Tensor, bins: int = 100,
                    boundaries_of: str | None = "nf4",
                    title: str = "Code values over the values they must represent"):
    """Top: the density of ``scaled`` (weights divided by their block's absmax, in [-1, 1]), with
    the rounding boundaries of the code book ``boundaries_of`` as vertical lines (both in the legend).
    Bottom: one row of dots per code book at its 16 values, with the midpoints where rounding
    switches from one value to the next as ticks."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, height_ratios=(2, 1))
    top.hist(scaled.detach().float().reshape(-1).cpu().numpy(), bins=bins, range=(-1, 1), density=True,
             color="tab:grey", alpha=0.6, label="w / absmax")
    top.set_ylabel("density of w / absmax")
    top.set_title(title)
    for row, (name, code) in enumerate(codes.items()):
        values = code.float().sort().values
        midpoints = (values[:-1] + values[1:]) / 2
        colour = CODE_COLOURS.get(name, None)
        bottom.scatter(values, [row] * len(values), color=colour, s=18, zorder=3)
        bottom.scatter(midpoints, [row] * len(midpoints), color=colour, marker="|", s=120, alpha=0.5)
        if name == boundaries_of:
            for i, m in enumerate(midpoints.tolist()):
                top.axvline(m, color=colour, alpha=0.4, linewidth=0.8,
                            label=f"{name.upper()} rounding boundaries" if i == 0 else None)
    top.legend(fontsize=8, loc="upper left")
    bottom.set_yticks(range(len(codes)), list(codes))
    bottom.set_ylim(-0.6, len(codes) - 0.4)
    bottom.set_xlabel("normalised value w / absmax (dots: code values, ticks: rounding boundaries)")
    bottom.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_code_usage(usage: Mapping[str, torch.Tensor], title: str = "How often each code value is used"):
    """Grouped bars: for each code book, the fraction of values rounded to each of its 16 values,
    given from the most negative value to the most positive (``code_usage(..., by_value=True)``).
    The dashed line is 1/16."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(usage)
    for i, (name, fractions) in enumerate(usage.items()):
        positions = [k + (i - (len(usage) - 1) / 2) * width for k in range(len(fractions))]
        ax.bar(positions, fractions.cpu().numpy(), width=width, label=name, color=CODE_COLOURS.get(name))
    ax.axhline(1 / 16, color="black", linestyle="--", linewidth=1, label="1/16 (equal use)")
    ax.set_xticks(range(16))
    ax.set_xlabel("code value, rank from most negative (0) to most positive (15)")
    ax.set_ylabel("fraction of weights")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_blocksize_sweep(blocksizes: Sequence[int], mse: Mapping[str, Sequence[float]],
                         bits: Mapping[str, Sequence[float]],
                         title: str = "Smaller blocks: less error, more memory"):
    """Left: round-trip MSE against block size, one line per code book. Right: bits per
    parameter against block size, one line per storage scheme. Log-2 block size axes."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, values in mse.items():
        left.plot(blocksizes, values, marker="o", label=name, color=CODE_COLOURS.get(name))
    left.set_ylabel("mean squared error (weight units²)")
    left.set_yscale("log")
    for name, values in bits.items():
        right.plot(blocksizes, values, marker="o", label=name)
    right.axhline(4, color="black", linestyle=":", linewidth=1, label="4 bits (indices alone)")
    right.set_ylabel("storage (bits per parameter)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(blocksizes), [str(b) for b in blocksizes])
        ax.set_xlabel("block size (weights per absmax)")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_perplexity_gaps(gaps: Mapping[str, Sequence[float]], margin: float,
                         title: str = "Paired gaps in log perplexity, 95% intervals"):
    """One row per paired comparison: the gap ``a - b`` in log perplexity (nats per token) with its
    interval, against the equivalence band ``±margin`` (shaded) and 0 (solid line).

    ``gaps``: ``{"int4 - fp32": (mean, low, high)}``, e.g. the ``diff`` of each
    :func:`lorakit.stats.compare` result, drawn top to bottom in the given order. A gap of ``m`` nats
    is a factor ``e^m`` in perplexity (0.01 nats: 1.0%). An interval inside the band is "equivalent";
    one that crosses the band's edge is not (drawn red), even where it lies close to it. The axis
    spans the band and every interval, so nothing is cut off.
    """
    if not gaps:
        raise ValueError("plot_perplexity_gaps needs at least one (mean, low, high) gap")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
        raise ValueError(f"margin must be a positive number of nats (0.01 = 1% of perplexity), got {margin!r}")
    names = list(gaps)
    rows = [tuple(float(v) for v in tuple(gaps[n])[:3]) for n in names]
    if any(len(r) != 3 or not r[1] <= r[0] <= r[2] for r in rows):
        raise ValueError("each gap must be (mean, low, high) with low <= mean <= high")
    fig, ax = plt.subplots(figsize=(7, 0.38 * len(names) + 1.5))
    y = list(range(len(names)))[::-1]                                   # the first row at the top
    ax.axvspan(-margin, margin, color="tab:green", alpha=0.12,
               label=f"±{margin:g} nats ({100 * (math.exp(margin) - 1):.1f}% of perplexity): equivalent inside")
    ax.axvline(0, color="black", linewidth=0.8)
    inside = [-margin < r[1] and r[2] < margin for r in rows]
    for kept, colour, label in ((True, "black", "interval inside the band"),
                                (False, "tab:red", "interval crosses the band: not shown equivalent")):
        shown = [(r, yy) for r, yy, k in zip(rows, y, inside) if k == kept]
        if shown:
            ax.errorbar([r[0] for r, _ in shown], [yy for _, yy in shown], fmt="o", color=colour, capsize=3,
                        xerr=[[r[0] - r[1] for r, _ in shown], [r[2] - r[0] for r, _ in shown]], label=label)
    ax.set_yticks(y, names)
    reach = max(margin, *(max(abs(r[1]), abs(r[2])) for r in rows))
    ax.set_xlim(-1.25 * reach, 1.25 * reach)
    ax.set_xlabel("a - b in log perplexity (nats per token; above 0: a worse)")
    ax.set_ylabel("comparison (a - b)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, ncol=1)
    ax.set_title(title, pad=48)
    fig.tight_layout()
    return fig
