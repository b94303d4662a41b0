"""lorakit.course.plots.finetune: each helper draws one figure with labelled axes (headless backend)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lorakit.course.plots import finetune as plots  # noqa: E402
from lorakit.stats import CI  # noqa: E402

CIS = [CI(0.5, 0.4, 0.6), CI(0.9, 0.85, 0.95)]


@pytest.mark.parametrize("draw, n_axes, xlabel, ylabel", [
    (lambda: plots.plot_loss_curves({"train": ([10, 20], [3.0, 1.0]), "eval": ([20], [1.2])}), 1,
     "optimizer step", "cross-entropy per answer token (nats)"),
    (lambda: plots.plot_rank_ablation([1, 2], CIS, [100, 200]), 2, "rank r", "exact match on the test questions (%)"),
    (lambda: plots.plot_scores({"q,v": CIS[0], "all-linear": CIS[1]}, title="targets"), 1,
     "exact match on the test questions (%)", ""),           # horizontal bars: the names are the y ticks
    (lambda: plots.plot_scores_by_step([100, 300], {"QLoRA": CIS, "LoRA": CIS[::-1]},
                                       [CI(-0.4, -0.5, -0.3), CI(0.4, 0.3, 0.5)], "QLoRA - LoRA", band=0.03), 2,
     "optimizer step", "exact match on the test questions (%)"),
    (lambda: plots.plot_rank_sweep([4, 16], {"alpha/r": [[0.5, 0.6], [0.7, 0.8]], "alpha/sqrt(r)": [[0.5], [0.9]]}), 1,
     "rank r", "exact match on the test questions (%)"),
])
def test_one_labelled_figure(draw, n_axes, xlabel, ylabel):
    before = len(plt.get_fignums())
    fig = draw()
    assert len(plt.get_fignums()) == before + 1 and len(fig.axes) == n_axes
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, ylabel) and ax.get_title()
    if not ylabel:
        fig.canvas.draw()
        assert {t.get_text() for t in ax.get_yticklabels()} >= {"q,v", "all-linear"}
    assert ax.get_legend() is not None
    plt.close(fig)


def test_rank_plot_needs_one_entry_per_rank():
    with pytest.raises(ValueError, match="one entry per rank"):
        plots.plot_rank_ablation([1, 2, 4], CIS, [1, 2, 3])


def test_scores_by_step_needs_one_interval_per_step():
    with pytest.raises(ValueError, match="one per step"):
        plots.plot_scores_by_step([100, 300, 600], {"QLoRA": CIS}, CIS, "QLoRA - LoRA")
    with pytest.raises(ValueError, match="'QLoRA - LoRA' has 1 intervals"):
        plots.plot_scores_by_step([100, 300], {"QLoRA": CIS}, CIS[:1], "QLoRA - LoRA")


@pytest.mark.parametrize("draw", [
    lambda: plots.plot_rank_ablation([1, 2], CIS, [100, 200]),
    lambda: plots.plot_scores({"q,v": CIS[0], "all-linear": CIS[1]}, title="targets"),
    lambda: plots.plot_rank_sweep([4, 16], {"alpha/r": [[0.5], [0.7]]}),
])
def test_legend_sits_below_the_axes(draw):
    """A legend inside the axes covered a whisker (issue 23): it goes under the plot, clear of the data."""
    fig = draw()
    fig.canvas.draw()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    assert ax.get_legend().get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0
    plt.close(fig)


def test_bars_are_the_score_and_whiskers_the_interval():
    """The bar is the exact match, not its interval: only the whisker is labelled as an interval."""
    fig = plots.plot_scores({"q,v": CIS[0], "all-linear": CIS[1]}, title="targets")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["exact match", "95% bootstrap interval"]
    bars = [p.get_width() for p in fig.axes[0].patches]
    assert bars == pytest.approx([50.0, 90.0])
    plt.close(fig)


def test_rank_sweep_needs_one_entry_per_rank():
    with pytest.raises(ValueError, match="one per rank"):
        plots.plot_rank_sweep([4, 16, 64], {"alpha/r": [[0.5], [0.7]]})
    with pytest.raises(ValueError, match="at least one scaling"):
        plots.plot_rank_sweep([4], {})
    with pytest.raises(ValueError, match="one rate per line"):
        plots.plot_rank_sweep([4, 16], {"alpha/r": [[0.5], [0.7]]}, lrs={"alpha/sqrt(r)": 5e-4})


def test_rank_sweep_names_each_rate_and_marks_the_tuned_rank_and_the_cap():
    """Each line runs at its own rate (the sweep's main confound): the legend says which; a dotted line marks
    the rank the rates were chosen at, and ranks above the layer width are shaded."""
    fig = plots.plot_rank_sweep([4, 16, 64, 256], {"alpha/r": [[0.5]] * 4, "alpha/sqrt(r)": [[0.6]] * 4},
                                lrs={"alpha/r": 2e-3, "alpha/sqrt(r)": 5e-4}, tuned_at=16, max_rank=128)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "alpha/r, lr 0.002 (mean of seeds)" in labels and "alpha/sqrt(r), lr 0.0005 (mean of seeds)" in labels
    assert any("r=16" in t for t in labels) and any("r > 128" in t for t in labels)
    dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(dotted) == 1 and list(dotted[0].get_xdata()) == [16, 16]
    spans = [p for p in ax.patches if p.get_alpha() == 0.15]
    # axvspan draws a Polygon before matplotlib 3.9 and a Rectangle since: read its left edge in data units either way
    left = spans[0].get_patch_transform().transform(spans[0].get_path().vertices)[:, 0].min() if spans else None
    assert len(spans) == 1 and left == pytest.approx(128)
    plt.close(fig)
    plain = plots.plot_rank_sweep([4, 16], {"alpha/r": [[0.5], [0.7]]})
    assert [t.get_text() for t in plain.axes[0].get_legend().get_texts()] == ["alpha/r (mean of seeds)", "one seed"]
    assert not plain.axes[0].patches
    plt.close(plain)
