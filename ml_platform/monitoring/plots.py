"""PNG plots of a table's monitoring: score distribution today vs reference."""

import io

import matplotlib

matplotlib.use("Agg")  # no display: files and metadata only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def drift_plot_png(reference: np.ndarray, current: np.ndarray, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
    bins = np.linspace(0, 1, 41)
    ax.hist(reference, bins=bins, density=True, alpha=0.5, label="reference (trailing partitions)")
    ax.hist(current, bins=bins, density=True, alpha=0.5, label="today")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("score")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
