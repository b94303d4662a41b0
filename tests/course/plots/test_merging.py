"""lorakit.course.plots.merging: one labelled figure, bad input named (headless backend)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lorakit.course.plots.merging import plot_score_heatmap  # noqa: E402


def test_one_labelled_figure_with_a_cell_per_score():
    scores = {"base": {"qa": 0.0, "record": 0.05}, "qa": {"qa": 0.95, "record": 0.0},
              "cat": {"qa": 0.9, "record": 0.85}}
    before = len(plt.get_fignums())
    fig = plot_score_heatmap(scores, bar=0.8)
    assert len(plt.get_fignums()) == before + 1
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert [t.get_text() for t in ax.texts] == ["0", "5", "95", "0", "90", "85"]
    assert len(ax.patches) == 3   # the three cells at or above the bar
    colour_bar = fig.axes[1]
    assert "%" in colour_bar.get_ylabel()          # in percent, like the cells
    fig.canvas.draw()
    ticks = [t.get_text() for t in colour_bar.get_yticklabels()]
    assert "100%" in ticks and "0%" in ticks, ticks
    plt.close(fig)


def test_rows_must_share_tasks():
    with pytest.raises(ValueError, match="same tasks"):
        plot_score_heatmap({"a": {"qa": 1.0}, "b": {"record": 1.0}})
    with pytest.raises(ValueError, match="at least one row"):
        plot_score_heatmap({})


def test_merge_steps_figure_shows_each_step_and_leaves_the_global_seed_alone():
    import torch

    from lorakit.course.plots.merging import plot_merge_steps
    from lorakit.lora.combine import ties_merge
    g = torch.Generator().manual_seed(0)
    toy = [torch.randn(4, 5, generator=g) for _ in range(2)]
    state = torch.get_rng_state()
    fig = plot_merge_steps(toy, density=0.5, seed=0)
    assert torch.equal(state, torch.get_rng_state())
    shown = [ax for ax in fig.axes if ax.get_images() and ax.get_title()]
    assert len(shown) == 10                      # 3 + 4 + 3 panels, two blanks
    titles = [ax.get_title() for ax in shown]
    assert "3. TIES merge" in titles and "plain sum" in titles
    ties = next(ax for ax in shown if ax.get_title() == "3. TIES merge").get_images()[0].get_array()
    assert torch.allclose(torch.as_tensor(ties.data), ties_merge(toy, [1, 1], 0.5))
    signs = next(ax for ax in shown if ax.get_title() == "2. elect signs")
    assert {t.get_text() for t in signs.texts} <= {"+", "−"} and signs.texts
    assert "ΔW" in fig.axes[-1].get_ylabel()     # the colour bar says what the colours are
    plt.close(fig)
    with pytest.raises(ValueError, match="two 2-D updates"):
        plot_merge_steps(toy[:1])
    with pytest.raises(ValueError, match="density"):
        plot_merge_steps(toy, density=1.0)
