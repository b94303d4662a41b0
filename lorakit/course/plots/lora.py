"""Figures for notebook 01 (LoRA math): update size against rank, singular values, truncation error.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch

from lorakit.course.plots import finish_line_plot


def plot_update_size(ranks: Sequence[int], sizes: Mapping[str, Sequence[float]],
                     title: str = "Size of the LoRA update as r grows"):
    """One line per scaling rule: ``sizes[label][i]`` is the update's RMS at ``ranks[i]`` (log-log)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in sizes.items():
        ax.plot(ranks, values, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    return finish_line_plot(fig, ax, "rank r", "RMS of scaling·B·A·x (per output)", title)


def plot_singular_values(singular_values: Mapping[str, torch.Tensor] | torch.Tensor,
                         title: str = "Singular values of ΔW"):
    """Singular values in descending order on a log scale, one line per matrix."""
    if isinstance(singular_values, torch.Tensor):
        singular_values = {"ΔW": singular_values}
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, s in singular_values.items():
        s = s.detach().float().cpu()
        ax.plot(range(1, len(s) + 1), s, label=label)
    ax.set_yscale("log")
    return finish_line_plot(fig, ax, "index i (sorted, largest first)", "singular value σᵢ", title)


def plot_truncation_error(ranks: Sequence[int], errors: Mapping[str, Sequence[float]],
                          mark_rank: int | None = None,
                          title: str = "Best rank-r approximation of ΔW"):
    """Relative Frobenius error ‖ΔW − ΔW_r‖/‖ΔW‖ against r, one line per matrix."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in errors.items():
        ax.plot(ranks, values, label=label)
    if mark_rank is not None:
        ax.axvline(mark_rank, color="grey", linestyle="--", label=f"r = {mark_rank}")
    ax.set_xlabel("rank r of the approximation")
    ax.set_ylabel("relative error ‖ΔW − ΔW_r‖_F / ‖ΔW‖_F")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
