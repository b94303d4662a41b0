"""Figures for the notebook "QLoRA with paged optimizers": training memory by part, and GPU memory over time.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

PART_COLOURS = {"base_weights": "tab:blue", "lora_weights": "tab:green", "gradients": "tab:orange",
                "optimizer_states": "tab:red", "activations": "tab:purple"}


def plot_footprint_bars(rows: Sequence[Mapping], gpus_gb: Mapping[str, float] | None = None,
                        title: str = "Estimated training memory by part"):
    """Stacked bars of the parts (GB) of each row of :func:`lorakit.memory.estimate.footprint_table`, one panel per model.

    Args:
        rows: dicts with ``model``, ``method`` and one GB value per part (``base_weights``, ...).
        gpus_gb: ``{label: GB}`` drawn as horizontal lines where they fall inside a panel (a T4's
            16 GiB is 17.2 GB).

    Each panel has its own linear memory axis: full fine-tuning of 65B is ~100x QLoRA of 7B, and a
    shared or logarithmic axis would hide the smaller bars' proportions. The cards are told apart by
    line style in one legend, outside the panels, so no label covers a bar or another label.
    """
    if not rows:
        raise ValueError("plot_footprint_bars needs at least one row")
    models = list(dict.fromkeys(r["model"] for r in rows))
    cards = list((gpus_gb or {}).items())
    styles = [":", "-.", "--", "-", (0, (1, 4)), (0, (6, 2))]
    style = {name: styles[i % len(styles)] for i, (name, _) in enumerate(cards)}
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models) + 1.6, 4.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        mine = [r for r in rows if r["model"] == model]
        bottoms = [0.0] * len(mine)
        for part, colour in PART_COLOURS.items():
            heights = [float(r.get(part, 0.0)) for r in mine]
            ax.bar(range(len(mine)), heights, bottom=bottoms, color=colour)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        top = 1.15 * max(bottoms)
        for name, gb in cards:
            if gb < top:
                ax.axhline(gb, color="black", linestyle=style[name], linewidth=0.9)
        ax.set_ylim(0, top)
        ax.set_xticks(range(len(mine)), [r["method"].replace(" (", "\n(") for r in mine], fontsize=7)
        ax.set_title(model, fontsize=9)
    axes[0][0].set_ylabel("memory (GB, 10^9 bytes)")
    handles = [Patch(color=colour, label=part.replace("_", " ")) for part, colour in PART_COLOURS.items()]
    handles += [Line2D([], [], color="black", linestyle=style[name], linewidth=0.9, label=f"{name} card")
                for name, _ in cards]
    width = fig.get_figwidth()
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / width, 1))
    return fig


def plot_estimate_vs_measured(estimated: Mapping[str, float], measured: Mapping[str, float],
                              title: str = "Estimated and measured bytes per part (one training step)"):
    """Side-by-side bars (MB) of two ``{part: bytes}`` dicts, e.g. ``Footprint.as_dict()``."""
    parts = [p for p in estimated if estimated[p] or measured.get(p)]
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    x = range(len(parts))
    ax.bar([i - 0.2 for i in x], [estimated[p] / 1e6 for p in parts], width=0.4, label="estimated")
    ax.bar([i + 0.2 for i in x], [measured.get(p, 0) / 1e6 for p in parts], width=0.4, label="measured")
    ax.set_xticks(list(x), [p.replace("_", "\n") for p in parts], fontsize=8)
    ax.set_ylabel("MB (10^6 bytes)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_memory_timeline(timelines: Mapping[str, tuple[Sequence[float], Sequence[float]]], capacity_gb: float,
                         title: str = "GPU memory during training steps with a memory spike"):
    """Lines of GPU memory (GB) over time (s): ``timelines[label] = (seconds, gigabytes)``.

    A run that ran out of memory ends early; the device's capacity is drawn as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, (seconds, gigabytes) in timelines.items():
        ax.plot(seconds, gigabytes, marker=".", label=label)
    ax.axhline(capacity_gb, color="black", linestyle="--", linewidth=0.8)
    ax.text(0, capacity_gb, " device memory", va="bottom", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("memory allocated by PyTorch (GB)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


__all__ = ["PART_COLOURS", "plot_estimate_vs_measured", "plot_footprint_bars", "plot_memory_timeline"]
