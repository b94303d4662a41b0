"""lorakit.course.plots.longlora: every figure draws, with labelled axes (Agg backend, tiny inputs)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lorakit.longlora import s2_attention_mask  # noqa: E402
from lorakit.course.plots.longlora import (plot_attention_cost, plot_attention_patterns,  # noqa: E402
                                           plot_passkey_by_depth, plot_perplexity_intervals)


def _labelled(fig):
    axes = [ax for ax in fig.axes if ax.axison]
    assert any(ax.get_xlabel() for ax in axes) and any(ax.get_ylabel() for ax in axes)
    plt.close(fig)


def test_patterns():
    masks = s2_attention_mask(16, 8)
    _labelled(plot_attention_patterns({"plain": masks[0], "shifted": masks[1]}))
    with pytest.raises(ValueError):
        plot_attention_patterns({})


def test_passkey_and_perplexity():
    _labelled(plot_passkey_by_depth({"a": {0.0: (0.5, 0.3, 0.7), 1.0: (1.0, 1.0, 1.0)},
                                     "b": {0.0: (0.1, 0.0, 0.2), 1.0: (0.9, 0.8, 1.0)}}))
    _labelled(plot_perplexity_intervals({"a": (3.0, 2.9, 3.1), "b": (5.0, 4.5, 5.6)}))
    with pytest.raises(ValueError):
        plot_passkey_by_depth({})


def test_passkey_by_depth_in_panels():
    point = {0.0: (0.5, 0.3, 0.7), 1.0: (1.0, 1.0, 1.0)}
    by_depth = {"lora": point, "lora @s2": point, "longlora": point, "full": point}
    fig = plot_passkey_by_depth(by_depth, panels={"full attention": ["full"], "S2": ["lora", "lora @s2", "longlora"],
                                                  "empty": []}, dashed=["lora @s2"])
    left, right = fig.axes                                 # the empty panel is dropped
    assert (left.get_title(), right.get_title()) == ("full attention", "S2")
    lines = {l.get_label(): l for l in right.get_lines() if not l.get_label().startswith("_")} or \
        {c.get_label(): c.lines[0] for c in right.containers}
    assert lines["lora @s2"].get_linestyle() == "--" and lines["lora"].get_linestyle() == "-"
    assert lines["lora @s2"].get_color() == lines["lora"].get_color() != lines["longlora"].get_color()
    _labelled(fig)
    with pytest.raises(ValueError, match="unknown"):
        plot_passkey_by_depth(by_depth, panels={"x": ["nope"]})


def test_cost():
    seconds = {256: {"full": 0.2, "s2": 0.15}, 512: {"full": 0.3, "s2": 0.18}}
    _labelled(plot_attention_cost(seconds, {256: 4.0, 512: 4.0}))
    _labelled(plot_attention_cost(seconds, {256: 4.0, 512: 4.0}, attention=seconds))
