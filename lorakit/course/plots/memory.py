"""Figures for the notebook "QLoRA with paged optimizers": training memory by part, and GPU memory over time.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter
from matplotlib.patches import Patch

PART_COLOURS = {"base_weights": "tab:blue", "lora_weights": "tab:green", "gradients": "tab:orange",
                "optimizer_states": "tab:red", "activations": "tab:purple"}


def plot_footprint_bars(rows: Sequence[Mapping], gpus_gb: Mapping[str, float] | None = None,
                        title: str = "Estimated training memory by part"):
    """Each row of :func:`lorakit.memory.estimate.footprint_table` as a total and as shares of its parts; one column per model.

    Args:
        rows: dicts with ``model``, ``method`` and one GB value per part (``base_weights``, ...); a row's
            ``total GB``, when given and positive, is the total drawn and written (the parts may be rounded).
        gpus_gb: ``{label: GB}`` drawn as horizontal lines in the top row (a T4's 14.7 GiB is 15.8 GB).

    Top row: the total of each bar on one logarithmic axis shared by all models (full fine-tuning of
    65B is ~100x QLoRA of 7B), with each total written at the foot of its bar, so 44.8 GB against a 48 GB card
    reads as a number, not as a few pixels. Bottom row: each part's share of the total (0-100%), which
    a linear axis of totals would hide for the small bars. The cards are told apart by line style in
    one legend outside the panels, so no label covers a bar or another label.
    """
    if not rows:
        raise ValueError("plot_footprint_bars needs at least one row")
    models = list(dict.fromkeys(r["model"] for r in rows))
    cards = list((gpus_gb or {}).items())
    styles = [":", "-.", "--", "-", (0, (1, 4)), (0, (6, 2))]
    style = {name: styles[i % len(styles)] for i, (name, _) in enumerate(cards)}
    fig, axes = plt.subplots(2, len(models), figsize=(3.2 * len(models) + 1.8, 6.4), squeeze=False,
                             sharey="row", gridspec_kw={"height_ratios": [3, 2]})
    parts_sum = lambda r: sum(float(r.get(p, 0.0)) for p in PART_COLOURS)
    row_total = lambda r: float(r["total GB"]) if float(r.get("total GB", 0.0)) > 0 else parts_sum(r)
    totals = [row_total(r) for r in rows]
    if min(totals) <= 0:
        raise ValueError("every row needs a positive total to be drawn on a logarithmic axis")
    low, high = min(totals + [gb for _, gb in cards]) / 2, max(totals + [gb for _, gb in cards]) * 1.6
    for col, model in enumerate(models):
        top, share = axes[0][col], axes[1][col]
        mine = [r for r in rows if r["model"] == model]
        x = range(len(mine))
        sums = [row_total(r) for r in mine]
        top.bar(x, sums, color="0.55", width=0.6)
        for i, total in enumerate(sums):
            top.text(i, low * 1.2, f"{total:.1f}", ha="center", va="bottom", fontsize=8, color="white",
                     fontweight="bold")   # at the foot of the bar, below every card's line
        for name, gb in cards:
            top.axhline(gb, color="black", linestyle=style[name], linewidth=0.9)
        top.set_yscale("log")
        top.set_ylim(low, high)
        top.set_xticks(list(x), [])
        top.set_title(model, fontsize=9)
        bottoms = [0.0] * len(mine)
        for part, colour in PART_COLOURS.items():
            heights = [100 * float(r.get(part, 0.0)) / parts_sum(r) for r in mine]
            share.bar(x, heights, bottom=bottoms, color=colour, width=0.6)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        share.set_ylim(0, 100)
        share.set_xticks(list(x), [r["method"].replace(" (", "\n(") for r in mine], fontsize=7)
    axes[0][0].set_ylabel("total (GB, 10^9 bytes, log scale)")
    axes[1][0].set_ylabel("share of the total (%)")
    handles = [Patch(color=colour, label=part.replace("_", " ")) for part, colour in PART_COLOURS.items()]
    handles += [Line2D([], [], color="black", linestyle=style[name], linewidth=0.9, label=f"{name} card")
                for name, _ in cards]
    width = fig.get_figwidth()
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1 - 1.4 / width, 1))
    return fig


def plot_estimate_vs_measured(estimated: Mapping[str, float], measured: Mapping[str, float],
                              title: str = "Estimated and measured bytes per part (one training step)"):
    """Two ``{part: bytes}`` dicts (e.g. ``Footprint.as_dict()``): side-by-side bars on a log axis, and the paired
    difference of each part, (estimated - measured) / measured in percent.

    The parts span orders of magnitude (activations against LoRA weights), so the bars use a logarithmic
    axis; equal bars say little at a glance, so the right panel shows the difference itself.
    """
    parts = [p for p in estimated if estimated[p] or measured.get(p)]
    if not parts:
        raise ValueError("nothing to draw: every part is zero")
    fig, (ax, diff) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    x = range(len(parts))
    ax.bar([i - 0.2 for i in x], [estimated[p] / 1e6 for p in parts], width=0.4, label="estimated")
    ax.bar([i + 0.2 for i in x], [measured.get(p, 0) / 1e6 for p in parts], width=0.4, label="measured")
    ax.set_yscale("log")
    ax.set_xticks(list(x), [p.replace("_", "\n") for p in parts], fontsize=8)
    ax.set_ylabel("MB (10^6 bytes, log scale)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    errors = [100 * (estimated[p] - measured[p]) / measured[p] if measured.get(p) else 0.0 for p in parts]
    diff.axhspan(-10, 10, color="tab:green", alpha=0.15, label="within 10%")
    diff.plot(list(x), errors, "o", color="0.2")         # a dot, so a difference of 0 is seen too
    diff.axhline(0, color="black", linewidth=0.8)
    reach = max(12.0, 1.2 * max(abs(e) for e in errors))
    diff.set_ylim(-reach, reach)
    diff.set_xticks(list(x), [p.replace("_", "\n") for p in parts], fontsize=8)
    diff.set_ylabel("estimated - measured (% of measured)")
    diff.set_title("paired difference", fontsize=10)
    diff.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_relative_errors(points: Sequence[Mapping], part: str = "activations", goal: float = 0.10,
                         title: str = "Estimator against measurement, on shapes it was not fitted to",
                         names: Mapping[str, str] | None = None):
    """One dot per point of ``04_estimate_heldout.json``: (estimated - measured) / measured of ``part``, in percent,
    one column per architecture (labelled ``names[architecture]`` when given), dots by gradient checkpointing,
    hollow for batch 1 (one sequence: no padding), with the ``goal`` band shaded."""
    if not points:
        raise ValueError("plot_relative_errors needs at least one point")
    archs = list(dict.fromkeys(p["architecture"] for p in points))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.axhspan(-100 * goal, 100 * goal, color="tab:green", alpha=0.15, label=f"within {goal:.0%}")
    for ckpt, marker, colour in ((False, "o", "tab:purple"), (True, "s", "tab:blue")):
        for one in (False, True):
            mine = [p for p in points if bool(p["checkpointing"]) == ckpt and (p.get("batch") == 1) == one]
            if not mine:
                continue
            xs = [archs.index(p["architecture"]) + (0.12 if ckpt else -0.12) for p in mine]
            ax.scatter(xs, [100 * p["rel_error"][part] for p in mine], marker=marker, alpha=0.8,
                       facecolors="none" if one else colour, edgecolors=colour, s=60 if one else 36,
                       label=f"checkpointing {'on' if ckpt else 'off'}, " + ("batch 1 (no padding)" if one else "padded batch"))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(archs)), [(names or {}).get(a, a).replace(", ", "\n") for a in archs], fontsize=8)   # long names: one part a line
    ax.set_xlim(-0.5, len(archs) - 0.5)
    ax.set_ylabel(f"{part}: estimated - measured\n(% of measured)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
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


def plot_merge_curve(curves: Mapping[str, Mapping], title: str = "Merging into NF4: what survives re-quantization"):
    """The merge-into-NF4 curve: the fraction of the update kept, and exact match, against the update's size.

    ``curves[label] = {"rel_size": [...], "kept": [...], "em": {merge: [...]}}``, one point per scaling of
    the adapter's update (ascending), the last being the adapter as trained (drawn larger). Left: fraction of
    :math:`\\Delta W` kept after re-quantizing to NF4, against :math:`|\\Delta W| / |W|` on a logarithmic axis.
    Right: exact match of each merge (``nf4_requantized`` solid, the others dashed and dotted).
    """
    if not curves:
        raise ValueError("plot_merge_curve needs at least one curve")
    fig, (kept_ax, em_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    styles = {"base": ":", "nf4_dequantized": "--", "nf4_requantized": "-"}
    names = {"base": "float32 base", "nf4_dequantized": "decoded NF4", "nf4_requantized": "re-quantized NF4"}
    for i, (label, c) in enumerate(curves.items()):
        colour = f"C{i}"
        xs = list(c["rel_size"])
        if not (len(xs) == len(c["kept"]) and all(len(v) == len(xs) for v in c["em"].values())):
            raise ValueError(f"curve {label!r}: rel_size, kept and every em list need the same length")
        kept_ax.plot(xs, [100 * k for k in c["kept"]], marker="o", color=colour, label=label)
        kept_ax.plot(xs[-1:], [100 * c["kept"][-1]], marker="*", markersize=14, color=colour, linestyle="none")
        for merge, ems in c["em"].items():
            em_ax.plot(xs, [100 * e for e in ems], marker="o", markersize=4, color=colour,
                       linestyle=styles.get(merge, "-."), label=f"{label}: {names.get(merge, merge)}")
    for ax in (kept_ax, em_ax):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())   # unlabelled minor ticks: no overlapping labels
        ax.set_xticks([0.01, 0.02, 0.05, 0.1, 0.2, 0.5], ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5"])
        ax.grid(True, which="both", alpha=0.3)
    sizes = [x for c in curves.values() for x in c["rel_size"]]
    for ax in (kept_ax, em_ax):
        ax.set_xlim(min(sizes) / 1.3, max(sizes) * 1.3)
    kept_ax.set_xlabel("|dW| / |W|, all 4-bit layers (star: as trained)")
    em_ax.set_xlabel("|dW| / |W| (last point: as trained)")
    kept_ax.set_ylabel("dW kept after re-quantizing (%)")
    kept_ax.set_ylim(-5, 105)
    kept_ax.legend(fontsize=8, loc="upper left")
    em_ax.set_ylabel("exact match (%)")
    em_ax.set_ylim(-5, 105)
    em_ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["PART_COLOURS", "plot_estimate_vs_measured", "plot_footprint_bars", "plot_memory_timeline",
           "plot_merge_curve", "plot_relative_errors"]
