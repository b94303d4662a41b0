"""Smoke tests for lorakit.course.plots.memory: each function returns a figure with labelled axes."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from lorakit.memory.estimate import TrainingSetup, footprint_table  # noqa: E402
from lorakit.course.plots.memory import plot_estimate_vs_measured, plot_footprint_bars, plot_memory_timeline  # noqa: E402


def test_footprint_bars():
    rows = footprint_table(["tiny-lm"], {"LoRA": TrainingSetup(method="lora"), "QLoRA": TrainingSetup()})
    fig = plot_footprint_bars(rows, gpus_gb={"T4": 17.2})
    top, share = fig.axes                                             # totals, then shares, for the one model
    assert top.get_yscale() == "log" and top.get_ylabel().startswith("total")
    assert share.get_ylim() == (0, 100) and share.get_ylabel().startswith("share")
    totals = [sum(r[p] for p in ("base_weights", "lora_weights", "gradients", "optimizer_states", "activations"))
              for r in rows]
    assert [t.get_text() for t in top.texts] == [f"{t:.1f}" for t in totals]   # each total written out
    assert all(t.get_position()[1] < 17.2 for t in top.texts)        # at the bars' foot, below the card line
    stacks = {}
    for bar in share.patches:                                         # each bar's shares add up to 100%
        stacks[bar.get_x()] = stacks.get(bar.get_x(), 0) + bar.get_height()
    assert len(stacks) == 2 and all(abs(v - 100) < 1e-6 for v in stacks.values())
    labels = [t.get_text() for t in fig.legends[0].get_texts()]     # one legend, outside the panels
    assert labels == ["base weights", "lora weights", "gradients", "optimizer states", "activations", "T4 card"]
    assert top.get_legend() is None and share.get_legend() is None
    with pytest.raises(ValueError):
        plot_footprint_bars([])


def test_footprint_bars_write_the_rows_total_not_the_sum_of_rounded_parts():
    row = {"model": "m", "method": "QLoRA", "base_weights": 3.84, "lora_weights": 0.08, "gradients": 0.08,
           "optimizer_states": 0.16, "activations": 12.14, "total GB": 16.2}           # the parts sum to 16.30
    fig = plot_footprint_bars([row])
    assert [t.get_text() for t in fig.axes[0].texts] == ["16.2"]
    fig = plot_footprint_bars([{k: v for k, v in row.items() if k != "total GB"}])
    assert [t.get_text() for t in fig.axes[0].texts] == ["16.3"]


def test_estimate_vs_measured_and_timeline():
    fig = plot_estimate_vs_measured({"a": 1e6, "b": 2e6}, {"a": 1.25e6, "b": 2e6})
    bars, diff = fig.axes
    assert bars.get_ylabel().startswith("MB") and bars.get_yscale() == "log"
    ys = list(next(l for l in diff.lines if l.get_marker() == "o").get_ydata())                              # the paired differences, in percent
    assert abs(ys[0] - (-20.0)) < 1e-9 and ys[1] == 0.0 and diff.get_ylim()[0] <= -20
    with pytest.raises(ValueError):
        plot_estimate_vs_measured({"a": 0}, {"a": 0})
    fig = plot_memory_timeline({"run": ([0, 1, 2], [1.0, 3.0, 1.0])}, capacity_gb=4.0)
    assert fig.axes[0].get_xlabel() == "time (s)"


def test_relative_errors_one_column_per_architecture():
    from lorakit.course.plots.memory import plot_relative_errors

    points = [{"architecture": a, "checkpointing": c, "rel_error": {"activations": e}}
              for a, c, e in (("x", False, 0.05), ("x", True, 0.0), ("y", False, 0.12))]
    fig = plot_relative_errors(points)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    assert plot_relative_errors([dict(points[0], architecture="a, b")]).axes[0].get_xticklabels()[0].get_text() == "a\nb"
    dots = sorted(float(y) for coll in ax.collections for _, y in coll.get_offsets())
    assert dots == [0.0, 5.0, 12.0]
    named = plot_relative_errors(points, names={"x": "x (fitted architecture, other shapes)"}).axes[0]
    assert named.get_xticklabels()[0].get_text() == "x (fitted architecture\nother shapes)"
    one = plot_relative_errors(points + [dict(points[0], batch=1)]).axes[0]   # batch 1: hollow, its own legend entry
    labels = [t.get_text() for t in one.get_legend().get_texts()]
    assert "checkpointing off, batch 1 (no padding)" in labels and "checkpointing off, padded batch" in labels
    hollow = [c for c in one.collections if len(c.get_facecolor()) == 0 or c.get_facecolor()[0][3] == 0]
    assert len(hollow) == 1 and len(hollow[0].get_offsets()) == 1
    with pytest.raises(ValueError):
        plot_relative_errors([])


def test_merge_curve_log_axis_and_one_line_per_merge():
    from lorakit.course.plots.memory import plot_merge_curve

    curve = {"rel_size": [0.01, 0.1], "kept": [0.02, 0.9],
             "em": {"base": [0.1, 0.8], "nf4_dequantized": [0.1, 0.8], "nf4_requantized": [0.05, 0.7]}}
    fig = plot_merge_curve({"450 steps": curve})
    kept_ax, em_ax = fig.axes
    assert kept_ax.get_xscale() == "log" and em_ax.get_xscale() == "log"
    assert list(kept_ax.lines[0].get_ydata()) == [2.0, 90.0]
    assert [l.get_linestyle() for l in em_ax.lines] == [":", "--", "-"]
    with pytest.raises(ValueError, match="same length"):
        plot_merge_curve({"bad": dict(curve, kept=[0.1])})
