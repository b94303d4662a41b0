"""Figures for notebook 06 (QA-LoRA against QLoRA): why the merge is exact, and the ablations.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch


def plot_zero_point_shift(before: torch.Tensor, after: torch.Tensor, scales: torch.Tensor,
                          zeros: torch.Tensor, group_size: int, title: str | None = None):
    """One output row of a group-quantized weight before and after a merge.

    Args:
        before, after: (in,) dequantized weights of the row, before and after the merge.
        scales, zeros: (L,) the row's scale and (pre-merge) zero point per group, L = in // group_size.
        group_size: inputs per group.

    Each group's grid of representable values (scale · (k − zero), k = 0 … 2^bits − 1 within the
    plotted range) is drawn as faint lines; the points after the merge sit on the same codes, so the
    whole grid of a group moves by one constant.
    """
    before, after = before.detach().float().cpu(), after.detach().float().cpu()
    fig, ax = plt.subplots(figsize=(8, 4))
    x = torch.arange(before.numel())
    low, high = min(before.min(), after.min()).item(), max(before.max(), after.max()).item()
    for l in range(scales.numel()):
        s, z = scales[l].item(), zeros[l].item()
        shift = (after[l * group_size] - before[l * group_size]).item()
        left, right = l * group_size - 0.5, (l + 1) * group_size - 0.5
        k_min, k_max = int((low - shift) / s + z) - 1, int((high + abs(shift)) / s + z) + 2
        for k in range(max(k_min, 0), k_max):
            for offset, color in ((0.0, "0.85"), (shift, "tab:orange")):
                level = s * (k - z) + offset
                if low - s <= level <= high + s:
                    ax.hlines(level, left, right, color=color, linewidth=0.6, alpha=0.5)
        if l:
            ax.axvline(left, color="0.4", linewidth=1.0)
    ax.scatter(x, before, s=10, color="0.45", label="before merge (on the grid)")
    ax.scatter(x, after, s=10, color="tab:orange", label="after merge: same codes, grid shifted")
    ax.set_xlabel(f"input feature i (vertical lines: groups of {group_size})")
    ax.set_ylabel("weight value W[j, i]")
    ax.set_title(title or "Merging moves each group's grid by one constant")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)   # below: covers no point
    fig.tight_layout()
    return fig


def plot_update_patterns(updates: Mapping[str, torch.Tensor], group_size: int | None = None,
                         title: str = "The update ΔW = s·B·A that each layout can express"):
    """Heat maps of (out, in) updates side by side, with each panel's rank in its title.

    ``updates`` maps a panel title to a (out, in) matrix; ``group_size`` draws group boundaries.
    Each panel's colour scale is symmetric around 0 and its own (shown by its colour bar).
    """
    fig, axes = plt.subplots(1, len(updates), figsize=(3.4 * len(updates), 3.4), squeeze=False)
    for ax, (name, delta) in zip(axes[0], updates.items()):
        delta = delta.detach().float().cpu()
        rank = torch.linalg.matrix_rank(delta).item()
        bound = delta.abs().max().item() or 1.0
        image = ax.imshow(delta, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="ΔW entry")
        if group_size and "LoRA (" not in name:
            for edge in range(group_size, delta.shape[1], group_size):
                ax.axvline(edge - 0.5, color="k", linewidth=0.5, alpha=0.4)
        ax.set_title(f"{name}\nrank {rank}", fontsize=9)
        ax.set_xlabel("input feature i")
        ax.set_ylabel("output j")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_ablation(x_values: Sequence, series: Mapping[str, Sequence[tuple[float, float, float]]],
                  xlabel: str, reference: Mapping[str, float] | None = None,
                  title: str = "Exact match after deployment in INT-b"):
    """Exact match with 95% intervals against one swept setting, one line per method.

    Args:
        x_values: the setting's values (e.g. group sizes 32, 64, 128 or bits 4, 3, 2).
        series: method name -> ``[(mean, low, high), ...]`` in [0, 1], one per x value.
        xlabel: the x axis label.
        reference: optional horizontal lines, name -> exact match (e.g. QLoRA before its merge),
            dashed grey and named in the legend.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    positions = range(len(x_values))
    width = 0.08 * (len(series) - 1)
    for i, (name, points) in enumerate(series.items()):
        shift = -width / 2 + (width / max(len(series) - 1, 1)) * i
        means = [100 * p[0] for p in points]
        errors = [[100 * (p[0] - p[1]) for p in points], [100 * (p[2] - p[0]) for p in points]]
        ax.errorbar([x + shift for x in positions], means, yerr=errors, marker="o", capsize=4, label=name)
    for name, value in (reference or {}).items():       # named in the legend: a label on the line collides with markers
        ax.axhline(100 * value, color="0.5", linestyle="--", linewidth=1, label=name)
    ax.set_xticks(list(positions), [str(x) for x in x_values])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("exact match on the test questions (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] in (reference or {}))   # the methods first
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="lower left")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["plot_ablation", "plot_update_patterns", "plot_zero_point_shift"]
