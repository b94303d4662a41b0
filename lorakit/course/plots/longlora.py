"""Figures for the LongLoRA notebook: the S²-Attn pattern, passkey accuracy by depth, perplexity per
variant, and the cost of full attention against S²-Attn.

Each function draws one new figure with labelled axes and returns it; in a notebook, assign the
result (``fig = plot_...``) so the figure is shown once. Intervals are ``(mean, low, high)`` triples
(``lorakit.stats.CI`` is one).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch


def plot_attention_patterns(masks: Mapping[str, torch.Tensor], title: str = "Who attends to whom"):
    """One panel per boolean ``(seq, seq)`` mask: query position down, key position across."""
    if not masks:
        raise ValueError("plot_attention_patterns needs at least one mask")
    fig, axes = plt.subplots(1, len(masks), figsize=(3.2 * len(masks), 3.4), squeeze=False)
    for ax, (name, mask) in zip(axes[0], masks.items()):
        ax.imshow(mask.float().cpu().numpy(), cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("key position")
        ax.set_ylabel("query position")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _errorbar(ci) -> tuple[float, float, float]:
    mean, low, high = ci[0], ci[1], ci[2]
    return mean, mean - low, high - mean


def plot_passkey_by_depth(by_depth: Mapping[str, Mapping[float, Sequence[float]]],
                          title: str = "Passkey retrieval by depth (95% bootstrap intervals)",
                          panels: Mapping[str, Sequence[str]] | None = None, dashed: Sequence[str] = ()):
    """Accuracy (%) against the key's depth, one line per variant; ``{variant: {depth: (mean, lo, hi)}}``.

    ``panels``: ``{panel title: [variant, ...]}``, one panel each, side by side on a shared y axis,
    so that no panel holds more lines than the eye can follow (nine lines on one axis tangle);
    ``None`` puts every variant in one panel. A variant named in ``dashed`` is drawn dashed, in the
    colour of the variant before it in its panel: the same model read another way (e.g. under
    S²-Attn at test). Each panel's legend sits under it, covering no point.
    """
    if not by_depth:
        raise ValueError("plot_passkey_by_depth needs at least one variant")
    panels = {"": list(by_depth)} if panels is None else {t: list(v) for t, v in panels.items() if v}
    unknown = [v for names in panels.values() for v in names if v not in by_depth]
    if unknown or not panels:
        raise ValueError(f"panels must name variants of by_depth ({list(by_depth)}); unknown: {unknown}")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.6), sharey=True, squeeze=False)
    for ax, (panel, names) in zip(axes[0], panels.items()):
        n, colour = len(names), -1
        for i, name in enumerate(names):
            if name not in dashed or i == 0:
                colour += 1                                              # a new model: the next colour
            points = by_depth[name]
            depths = sorted(points)
            x = [d + (i - (n - 1) / 2) * 0.012 for d in depths]          # small offsets so bars do not overlap
            mean, lo, hi = zip(*(_errorbar(points[d]) for d in depths))
            ax.errorbar(x, [100 * m for m in mean], yerr=[[100 * v for v in lo], [100 * v for v in hi]],
                        marker="o", capsize=3, label=name, color=f"C{colour}",
                        linestyle="--" if name in dashed else "-",
                        markerfacecolor="white" if name in dashed else f"C{colour}")   # hollow: read another way
        ax.set_xlabel("depth of the key (0 = start, 1 = next to the question)")
        ax.set_ylim(-5, 105)
        ax.set_title(panel, fontsize=10)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
                  handlelength=3.5)                              # long enough to show a dash beside the marker
    axes[0][0].set_ylabel("passkey accuracy (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_perplexity_intervals(ppl: Mapping[str, Sequence[float]],
                              title: str = "Held-out perplexity at the extended length (95% intervals)"):
    """One dot per variant with its interval (horizontal bars), on a linear axis; ``{variant: (mean, lo, hi)}``."""
    if not ppl:
        raise ValueError("plot_perplexity_intervals needs at least one variant")
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(ppl) + 1.4))
    names = list(ppl)[::-1]
    mean, lo, hi = zip(*(_errorbar(ppl[n]) for n in names))
    ax.errorbar(mean, range(len(names)), xerr=[lo, hi], fmt="o", capsize=3, color="tab:blue")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("perplexity (lower is better)")
    ax.set_ylabel("variant")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_attention_cost(seconds: Mapping[int, Mapping[str, float]], flops_ratio: Mapping[int, float],
                        attention: Mapping[int, Mapping[str, float]] | None = None,
                        title: str = "Full attention against S²-Attn (G = N/4), same tokens per batch"):
    """Left: seconds per training step against sequence length. Right: the FLOPs ratio of the
    attention products, the measured speed-up of the attention operation alone (``attention``, if
    given) and of a whole training step, per length. ``seconds``: ``{N: {"full": s, "s2": s}}``."""
    lengths = sorted(seconds)
    if not lengths:
        raise ValueError("plot_attention_cost needs at least one length")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for kind, style, label in (("full", "o-", "full attention"), ("s2", "s-", "S²-Attn")):
        left.plot(lengths, [seconds[n][kind] for n in lengths], style, label=label)
    left.set_xscale("log", base=2)
    left.set_xticks(lengths, [str(n) for n in lengths])
    left.set_xlabel("sequence length N (tokens)")
    left.set_ylabel("seconds per training step")
    left.set_ylim(bottom=0)
    left.legend(loc="lower right")                    # under the lines: seconds stay well above 0
    bars = {"attention FLOPs ratio": [flops_ratio[n] for n in lengths]}
    if attention is not None:
        bars["attention op, measured"] = [attention[n]["full"] / attention[n]["s2"] for n in lengths]
    bars["training step, measured"] = [seconds[n]["full"] / seconds[n]["s2"] for n in lengths]
    width = 0.8 / len(bars)
    for i, (label, values) in enumerate(bars.items()):
        right.bar([j + (i - (len(bars) - 1) / 2) * width for j in range(len(lengths))], values, width=width, label=label)
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_xticks(range(len(lengths)), [str(n) for n in lengths])
    right.set_xlabel("sequence length N (tokens)")
    right.set_ylabel("full / S²-Attn (×)")
    right.legend(fontsize=8, ncol=len(bars), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                 frameon=False)                       # above the bars, so it covers none of them
    fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["plot_attention_cost", "plot_attention_patterns", "plot_passkey_by_depth", "plot_perplexity_intervals"]
