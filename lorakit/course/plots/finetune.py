"""Figures for notebook 02 (LoRA fine-tuning): loss curves, exact match against rank, scores with intervals.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once. Intervals are ``lorakit.stats.CI`` tuples.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt

from lorakit.course.plots import finish_line_plot
from lorakit.stats import CI


def plot_loss_curves(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
                     title: str = "Loss on the answer tokens during fine-tuning"):
    """One line per curve: ``curves[label] = (steps, losses)`` (e.g. from ``lorakit.training.sft.loss_history``).

    The loss axis is logarithmic: it falls from ~10 to ~0.1 in a short run.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (steps, losses) in curves.items():
        if len(steps):
            ax.plot(steps, losses, marker="o" if len(steps) < 15 else None, label=label)
    ax.set_yscale("log")
    return finish_line_plot(fig, ax, "optimizer step", "cross-entropy per answer token (nats)", title)


def _errorbars(cis: Sequence[CI]) -> tuple[list[float], list[list[float]]]:
    means = [100 * c.mean for c in cis]
    return means, [[m - 100 * c.low for m, c in zip(means, cis)], [100 * c.high - m for m, c in zip(means, cis)]]


def plot_rank_ablation(ranks: Sequence[int], cis: Sequence[CI], trainable: Sequence[int],
                       title: str = "Exact match and trainable parameters against the LoRA rank"):
    """Exact match (%, 95% interval as error bars) against r on a log2 axis; trainable parameters on
    a second, logarithmic axis (dashed)."""
    if not len(ranks) == len(cis) == len(trainable):
        raise ValueError(f"ranks, cis and trainable must have one entry per rank: "
                         f"got {len(ranks)}, {len(cis)}, {len(trainable)}")
    fig, ax = plt.subplots(figsize=(6, 4))
    means, err = _errorbars(cis)
    ax.errorbar(ranks, means, yerr=err, marker="o", capsize=3, label="exact match (95% CI)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ranks), [str(r) for r in ranks])
    ax.set_ylim(0, 102)
    ax.set_xlabel("rank r")
    ax.set_ylabel("exact match on the test questions (%)")
    ax.set_title(title)
    right = ax.twinx()
    right.plot(ranks, trainable, color="grey", linestyle="--", marker="s", label="trainable parameters")
    right.set_yscale("log")
    right.set_ylabel("trainable parameters")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    # below the axes, where it cannot cover a point or a whisker
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              fontsize=8, frameon=False)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_scores(scores: Mapping[str, CI], title: str, xlabel: str = "exact match on the test questions (%)"):
    """Horizontal bars, one per run: the bar is the exact match, the whisker its 95% interval (the
    legend says which is which and sits below the axes, clear of the whiskers). Overlapping whiskers
    do not settle a comparison: the notebook compares runs with the paired rule,
    :func:`lorakit.stats.compare`."""
    if not scores:
        raise ValueError("plot_scores needs at least one run")
    names = list(scores)
    means, err = _errorbars(list(scores.values()))
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 2.0))
    ax.barh(range(len(names)), means, color="tab:blue", alpha=0.8, label="exact match")
    ax.errorbar(means, range(len(names)), xerr=err, fmt="none", ecolor="black", capsize=3,
                label="95% bootstrap interval")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 102)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22 - 0.3 / len(names)), ncol=2, fontsize=8, frameon=False)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_rank_sweep(ranks: Sequence[int], seed_ems: Mapping[str, Sequence[Sequence[float]]],
                    title: str = "Exact match against the rank at a fixed lora_alpha",
                    lrs: Mapping[str, float] | None = None, tuned_at: int | None = None,
                    max_rank: int | None = None):
    """Exact match (%) against r (log2 axis), one line per scaling (e.g. ``"alpha/r"``,
    ``"alpha/sqrt(r)"``): the mean over seeds, and each seed's run as a small dot.

    Args:
        ranks: the ranks, e.g. ``[4, 16, 64, 256]``.
        seed_ems: scaling -> one list per rank of the exact match (fractions) of each seed.
        lrs: scaling -> the learning rate its line ran at, named in the legend.
        tuned_at: the rank at which the rates were chosen, marked by a dotted vertical line.
        max_rank: the layers' width: ranks above it are shaded (the update's rank cannot exceed it).
    """
    if not seed_ems:
        raise ValueError("plot_rank_sweep needs at least one scaling")
    for name, per_rank in seed_ems.items():
        if len(per_rank) != len(ranks):
            raise ValueError(f"{name!r} has {len(per_rank)} entries for {len(ranks)} ranks: one per rank expected")
    if lrs is not None and set(lrs) != set(seed_ems):
        raise ValueError(f"lrs names {sorted(lrs)}, the lines are {sorted(seed_ems)}: one rate per line expected")
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, per_rank) in enumerate(seed_ems.items()):
        color = f"C{i}"
        means = [100 * sum(ems) / len(ems) for ems in per_rank]
        label = f"{name}, lr {lrs[name]:g} (mean of seeds)" if lrs is not None else f"{name} (mean of seeds)"
        ax.plot(ranks, means, marker="o", color=color, label=label)
        for r, ems in zip(ranks, per_rank):
            ax.scatter([r * (1.06 if i else 0.94)] * len(ems), [100 * e for e in ems], s=12, color=color, alpha=0.5)
    ax.scatter([], [], s=12, color="0.4", alpha=0.5, label="one seed")
    ax.set_xscale("log", base=2)
    lo, hi = min(ranks) / 1.5, max(ranks) * 1.5
    if tuned_at is not None:
        ax.axvline(tuned_at, color="0.3", linestyle=":", linewidth=1.2, label=f"r={tuned_at}: rates chosen here")
    if max_rank is not None and max_rank < hi:
        ax.axvspan(max_rank, hi, color="0.5", alpha=0.15, label=f"r > {max_rank}: update rank capped at {max_rank}")
    ax.set_xlim(lo, hi)
    ax.set_xticks(list(ranks), [str(r) for r in ranks])
    ax.set_ylim(0, 102)
    ax.set_xlabel("rank r")
    ax.set_ylabel("exact match on the test questions (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_scores_by_step(steps: Sequence[int], scores: Mapping[str, Sequence[CI]], difference: Sequence[CI],
                        difference_label: str, band: float | None = None,
                        title: str = "Exact match against training steps"):
    """Two panels against the optimizer step: each method's exact match (%) with its 95% interval
    (left), and the paired difference between two methods with its interval (right).

    Args:
        steps: the steps at which every method was scored, e.g. ``[100, 150, 300]``.
        scores: method name -> one :class:`~lorakit.stats.CI` (fractions in [0, 1]) per step.
        difference: one CI of the paired difference (fractions) per step, e.g. QLoRA - LoRA.
        difference_label: what ``difference`` is, for the right panel's axis (e.g. ``"QLoRA - LoRA"``).
        band: if given, a shaded band of +-``band`` (fraction, e.g. 0.03) around 0 on the right panel:
            a bar such as "within 3 points" is met where the whole interval lies inside it.
    """
    if not scores:
        raise ValueError("plot_scores_by_step needs at least one method")
    for name, cis in [*scores.items(), (difference_label, difference)]:
        if len(cis) != len(steps):
            raise ValueError(f"{name!r} has {len(cis)} intervals for {len(steps)} steps: one per step expected")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, cis in scores.items():
        means, err = _errorbars(cis)
        left.errorbar(steps, means, yerr=err, marker="o", capsize=3, label=f"{name} (95% CI)")
    left.set_ylim(0, 102)
    left.set_ylabel("exact match on the test questions (%)")
    left.set_title(title, fontsize=10)
    means, err = _errorbars(difference)
    right.errorbar(steps, means, yerr=err, marker="o", capsize=3, color="tab:red", label="paired 95% CI")
    right.axhline(0, color="0.3", linewidth=1)
    if band is not None:
        right.axhspan(-100 * band, 100 * band, color="tab:green", alpha=0.15, label=f"within {100 * band:g} points")
    right.set_ylabel(f"{difference_label} (points)")
    right.set_title(f"Paired difference, {difference_label}", fontsize=10)
    for ax in (left, right):
        ax.set_xticks(list(steps), [str(s) for s in steps])
        ax.set_xlabel("optimizer step")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["plot_loss_curves", "plot_rank_ablation", "plot_rank_sweep", "plot_scores", "plot_scores_by_step"]
