"""Figures for the merging notebook: each task's score under each way of combining adapters.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.ticker import PercentFormatter


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


__all__ = ["plot_score_heatmap"]
