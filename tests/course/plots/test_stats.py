"""lorakit.course.plots.stats: the bootstrap histogram marks the measured score and the interval."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lorakit.course.plots.stats import plot_bootstrap  # noqa: E402
from lorakit.stats import bootstrap_ci  # noqa: E402


def test_histogram_with_the_measured_score_and_the_interval():
    scores = torch.tensor([1.0] * 57 + [0.0] * 43, dtype=torch.float64)
    idx = torch.randint(0, 100, (500, 100), generator=torch.Generator().manual_seed(0))
    means, ci = scores[idx].mean(dim=1), bootstrap_ci(scores)
    before = len(plt.get_fignums())
    fig = plot_bootstrap(means, ci)
    assert len(plt.get_fignums()) == before + 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "exact match on a resampled test set (%)" and ax.get_ylabel() == "resamples"
    assert sum(p.get_height() for p in ax.patches if hasattr(p, "get_height") and p.get_width() < 10) == 500
    vertical = sorted(line.get_xdata()[0] for line in ax.lines)
    assert vertical == pytest.approx(sorted([100 * ci.low, 100 * ci.mean, 100 * ci.high]))
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "measured: 57.0%" and labels[1].startswith("middle 95%: [")
    plt.close(fig)


def test_needs_resampled_means():
    with pytest.raises(ValueError, match="resampled means"):
        plot_bootstrap(torch.tensor([0.5]), bootstrap_ci([1.0, 0.0]))
