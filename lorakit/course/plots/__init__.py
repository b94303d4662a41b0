"""Figures the notebooks draw, one module per topic, so a notebook cell shows the idea in one call."""


def finish_line_plot(fig, ax, xlabel: str, ylabel: str, title: str):
    """The course's finish for a line plot: axis labels, title, legend, a light log-friendly grid."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
