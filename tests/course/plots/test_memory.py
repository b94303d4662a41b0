"""Smoke tests for lorakit.course.plots.memory: each function returns a figure with labelled axes."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from lorakit.memory.estimate import TrainingSetup, footprint_table  # noqa: E402
from lorakit.course.plots.memory import plot_estimate_vs_measured, plot_footprint_bars, plot_memory_timeline  # noqa: E402


def test_footprint_bars():
    rows = footprint_table(["tiny-lm"], {"LoRA": TrainingSetup(method="lora"), "QLoRA": TrainingSetup()})
    fig = plot_footprint_bars(rows, gpus_gb={"T4": 17.2})
    assert len(fig.axes) == 1
    assert fig.axes[0].get_ylabel().startswith("memory")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]     # one legend, outside the panels
    assert labels == ["base weights", "lora weights", "gradients", "optimizer states", "activations", "T4 card"]
    assert fig.axes[0].get_legend() is None and not fig.axes[0].texts   # nothing drawn over the bars
    with pytest.raises(ValueError):
        plot_footprint_bars([])


def test_estimate_vs_measured_and_timeline():
    fig = plot_estimate_vs_measured({"a": 1e6, "b": 2e6}, {"a": 1.1e6, "b": 2e6})
    assert fig.axes[0].get_ylabel().startswith("MB")
    fig = plot_memory_timeline({"run": ([0, 1, 2], [1.0, 3.0, 1.0])}, capacity_gb=4.0)
    assert fig.axes[0].get_xlabel() == "time (s)"
