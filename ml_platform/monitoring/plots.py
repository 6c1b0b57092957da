"""PNG plots of a table's monitoring: score distribution today vs the reference.

matplotlib is imported when a plot is drawn (a failed check), not when the check module loads, and
without pyplot (a Figure on the Agg canvas: no backend machinery to load).
"""

import io

import numpy as np


def drift_plot_png(reference: np.ndarray, reference_weights: np.ndarray | None, current: np.ndarray, title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    low, high = float(min(reference.min(), current.min())), float(max(reference.max(), current.max()))
    bins = np.linspace(low, high if high > low else low + 1.0, 41)
    fig = Figure(figsize=(5, 3), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.hist(reference, bins=bins, weights=reference_weights, density=True, alpha=0.5, label="pinned reference")
    ax.hist(current, bins=bins, density=True, alpha=0.5, label="this partition")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("score")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
