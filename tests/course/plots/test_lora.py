"""lorakit.course.plots.lora: each helper draws one figure with labelled axes (headless backend)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lorakit.course.plots import lora as plots  # noqa: E402


@pytest.mark.parametrize("draw", [
    lambda: plots.plot_update_size([1, 2, 4], {"a/r": [1.0, 0.7, 0.5], "a/sqrt(r)": [1.0, 1.0, 1.0]}),
    lambda: plots.plot_singular_values(torch.tensor([3.0, 1.0, 0.1])),
    lambda: plots.plot_truncation_error([1, 2, 3], {"dW": [0.5, 0.2, 0.0]}, mark_rank=2),
])
def test_one_labelled_figure(draw):
    before = len(plt.get_fignums())
    fig = draw()
    assert len(plt.get_fignums()) == before + 1
    (ax,) = fig.axes
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert ax.get_legend() is not None
    plt.close(fig)
