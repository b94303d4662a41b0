"""lorakit.course.plots.qalora: the ablation figure draws, labelled, with its reference line in the legend."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from lorakit.course.plots.qalora import plot_ablation  # noqa: E402


def test_ablation_names_its_reference_in_the_legend_not_on_the_line():
    series = {"QA-LoRA": [(0.67, 0.64, 0.70), (0.60, 0.57, 0.63)], "QLoRA, then INT4": [(0.66, 0.63, 0.69)] * 2}
    fig = plot_ablation([32, 64], series, xlabel="group size", reference={"QLoRA merged, float16": 0.665})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "group size" and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["QA-LoRA", "QLoRA, then INT4", "QLoRA merged, float16"]
    assert not ax.texts                                 # no free text over the markers
    plt.close(fig)
