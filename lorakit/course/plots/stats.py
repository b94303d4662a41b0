"""Figures for the statistics primer (notebook 00): what a bootstrap interval is, as a picture.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from lorakit.stats import CI


def plot_bootstrap(means: torch.Tensor, ci: CI, label: str = "exact match",
                   title: str = "Where the score could have landed: 2000 resampled test sets"):
    """Histogram of resampled means (fractions, shown in %) with the measured score and the interval.

    Args:
        means: one mean per resample, e.g. ``scores[idx].mean(dim=1)`` for ``idx`` of shape (n_boot, n).
        ci: the interval read off ``means`` (:func:`lorakit.stats.bootstrap_ci`); ``ci.mean`` is the
            score measured on the real sample.
        label: what the score is, for the x axis.
    """
    means = torch.as_tensor(means, dtype=torch.float64).reshape(-1)
    if means.numel() < 2:
        raise ValueError(f"plot_bootstrap needs the resampled means (at least 2), got {means.numel()}")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    pct = (100 * means).tolist()
    values = sorted(set(round(v, 9) for v in pct))
    if 2 <= len(values) <= 80:              # a mean of n 0/1 scores takes steps of 100/n points: one bar each
        step = min(b - a for a, b in zip(values, values[1:]))
        bins = [values[0] - step / 2 + i * step for i in range(round((values[-1] - values[0]) / step) + 2)]
    else:
        bins = 40
    ax.hist(pct, bins=bins, color="#9fa8da", edgecolor="white")
    ax.axvline(100 * ci.mean, color="black", lw=2, label=f"measured: {100 * ci.mean:.1f}%")
    for x in (ci.low, ci.high):
        ax.axvline(100 * x, color="#e65100", ls="--", lw=1.5)
    ax.axvspan(100 * ci.low, 100 * ci.high, color="#ffccbc", alpha=0.35,
               label=f"middle {100 * ci.level:g}%: [{100 * ci.low:.1f}, {100 * ci.high:.1f}]")
    ax.set_xlabel(f"{label} on a resampled test set (%)")
    ax.set_ylabel("resamples")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig
