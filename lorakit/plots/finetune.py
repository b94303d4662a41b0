"""Figures for notebook 02 (LoRA fine-tuning): loss curves, exact match against rank, scores with intervals.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once. Intervals are ``lorakit.stats.CI`` tuples.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt

from ..stats import CI


def plot_loss_curves(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
                     title: str = "Loss on the answer tokens during fine-tuning"):
    """One line per curve: ``curves[label] = (steps, losses)`` (e.g. from ``lorakit.sft.loss_history``).

    The loss axis is logarithmic: it falls from ~10 to ~0.1 in a short run.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (steps, losses) in curves.items():
        if len(steps):
            ax.plot(steps, losses, marker="o" if len(steps) < 15 else None, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy per answer token (nats)")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


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
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_scores(scores: Mapping[str, CI], title: str, xlabel: str = "exact match on the test questions (%)"):
    """Horizontal bars, one per run, with their 95% intervals: runs whose bars overlap may be a tie
    (the notebook decides with a paired test, :func:`lorakit.stats.verdict`)."""
    if not scores:
        raise ValueError("plot_scores needs at least one run")
    names = list(scores)
    means, err = _errorbars(list(scores.values()))
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.5))
    ax.barh(range(len(names)), means, xerr=err, capsize=3, color="tab:blue", alpha=0.8, label="95% CI")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 102)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["plot_loss_curves", "plot_rank_ablation", "plot_scores"]
