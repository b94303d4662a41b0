"""Figures for the merging notebook: what TIES and DARE do to two updates, and each task's score
under each way of combining adapters.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import PercentFormatter

from lorakit.lora.combine import drop_and_rescale, elect_sign, ties_merge, trim, weighted_sum


def plot_merge_steps(deltas, density: float = 0.5, seed: int = 0):
    """Two updates ΔW_1, ΔW_2 (same 2-D shape, a few rows and columns) merged three ways, step by step.

    Row 1: the inputs and their plain sum (task arithmetic). Row 2: TIES (Yadav et al. 2023): each
    update trimmed to its largest ``density`` share, the sign elected per entry (+ or −: the sign of the
    trimmed sum), and the mean of the entries that agree with it. Row 3: DARE (Yu et al. 2023): each
    update with a random ``1 − density`` of its entries dropped and the rest divided by ``density``,
    then summed. The last column holds the three merges, one colour scale for every panel but the
    signs; a white cell is 0 (trimmed, dropped or outvoted). The steps are ``lorakit.lora.combine``'s;
    the drop uses its own generator seeded with ``seed``, so the global random state is untouched.
    """
    deltas = [torch.as_tensor(d, dtype=torch.float32) for d in deltas]
    if len(deltas) != 2 or deltas[0].dim() != 2 or deltas[0].shape != deltas[1].shape:
        raise ValueError("plot_merge_steps needs exactly two 2-D updates of the same shape, "
                         f"got shapes {[tuple(d.shape) for d in deltas]}")
    if not 0 < density < 1:
        raise ValueError(f"density must be in (0, 1) to show a trim and a drop, got {density!r}")
    generator = torch.Generator().manual_seed(seed)
    trimmed = [trim(d, density) for d in deltas]
    stacked = torch.stack(trimmed)                                              # (2, out, in)
    agrees = elect_sign(stacked)                                                # (2, out, in) bool
    sign = (stacked.sign() * agrees).sum(dim=0).sign()                          # elected ±1; 0 where nothing is left
    dropped = [drop_and_rescale(d, density, generator) for d in deltas]
    panels = [
        [(deltas[0], "ΔW₁ (task 1)"), (deltas[1], "ΔW₂ (task 2)"), None,
         (weighted_sum(deltas, [1, 1]), "plain sum")],
        [(trimmed[0], "1. trim ΔW₁"), (trimmed[1], "1. trim ΔW₂"),
         (sign, "2. elect signs"), (ties_merge(deltas, [1, 1], density), "3. TIES merge")],
        [(dropped[0], f"ΔW₁: drop, ×{1 / density:g}"),
         (dropped[1], f"ΔW₂: drop, ×{1 / density:g}"), None,
         (weighted_sum(dropped, [1, 1]), "DARE merge (sum)")],
    ]
    limit = max(float(p[0].abs().max()) for row in panels for p in row if p is not None and p[0] is not sign)
    fig, axes = plt.subplots(3, 4, figsize=(10, 7.6))
    for r, (row, label) in enumerate(zip(panels, ("inputs", "TIES", "DARE"))):
        axes[r, 0].set_ylabel(f"{label}\noutput row of ΔW")
        for c, panel in enumerate(row):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if panel is None:
                ax.axis("off")
                continue
            values, title = panel
            is_sign = values is sign
            image = ax.imshow(values.numpy(), cmap="bwr", vmin=-4 if is_sign else -limit, vmax=4 if is_sign else limit)
            if is_sign:
                for (i, j), v in zip(torch.cartesian_prod(*map(torch.arange, values.shape)).tolist(), values.flatten()):
                    if v != 0:
                        ax.text(j, i, "+" if v > 0 else "−", ha="center", va="center", fontsize=9)
            else:
                scale_image = image
            ax.set_title(title, fontsize=9)
            if r == 2 or (r == 0 and c == 3) or (r == 1 and c == 2):
                ax.set_xlabel("input column of ΔW")
    fig.colorbar(scale_image, ax=axes, shrink=0.6, label="entry of ΔW (toy values, no unit; white = 0)")
    fig.suptitle(f"Two updates merged three ways (density {density:g}: TIES keeps the largest "
                 f"{density:.0%}, DARE a random {density:.0%})")
    return fig


def plot_score_heatmap(scores: Mapping[str, Mapping[str, float]], bar: float | None = None,
                       title: str = "Exact match per task and adapter"):
    """A heat map of ``scores[row][task]`` (fractions in [0, 1]), one row per adapter or combination.

    Every cell is written in percent; with ``bar`` (e.g. 0.8) the cells at or above it are framed,
    so the rows that keep a task are visible at a glance. Rows keep the mapping's order.
    """
    if not scores:
        raise ValueError("plot_score_heatmap needs at least one row of scores")
    rows = list(scores)
    tasks = list(next(iter(scores.values())))
    if any(list(scores[r]) != tasks for r in rows):
        raise ValueError(f"every row must score the same tasks in the same order, e.g. {tasks}")
    values = [[float(scores[r][t]) for t in tasks] for r in rows]
    fig, ax = plt.subplots(figsize=(1.6 * len(tasks) + 3.2, 0.36 * len(rows) + 1.4))
    image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=8,
                    color="black" if v > 0.6 else "white")
            if bar is not None and v >= bar:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5))
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("task (held-out examples)")
    ax.set_ylabel("adapter or combination")
    ax.set_title(title)
    bar_axis = fig.colorbar(image, ax=ax, label="exact match (%)")
    bar_axis.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))   # like the cells
    fig.tight_layout()
    return fig


__all__ = ["plot_merge_steps", "plot_score_heatmap"]
