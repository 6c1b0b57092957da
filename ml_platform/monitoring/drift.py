"""Distribution drift of one column: PSI on reference-quantile bins plus a two-sample KS test.

PSI gives the size of a shift in a unit teams already use (0.1 / 0.25 bands); the KS test
(scipy, already installed with scikit-learn, vectorised C code) gives a distribution-free
p-value. Bins are the reference's deciles, so a shift shows up as named bins that gained or lost mass.
"""

from dataclasses import dataclass

import numpy as np

BINS = 10
EPS = 1e-4  # floor on a bin's share so an empty bin does not make PSI infinite
KS_SAMPLE = 200_000  # KS on a sample of this size keeps a 1M-row partition well under a second


@dataclass(frozen=True)
class Drift:
    psi: float
    ks_statistic: float
    ks_pvalue: float
    top_bins: list[dict]  # bins with the largest |current - reference| share, largest first


def bin_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


def psi(reference_share: np.ndarray, current_share: np.ndarray) -> float:
    ref, cur = np.maximum(reference_share, EPS), np.maximum(current_share, EPS)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _sample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return values if values.size <= KS_SAMPLE else rng.choice(values, KS_SAMPLE, replace=False)


def measure_drift(reference: np.ndarray, current: np.ndarray, top: int = 3) -> Drift:
    """Drift of ``current`` against ``reference`` (both 1-D numeric, NaNs dropped)."""
    reference = np.asarray(reference, dtype="float64")
    current = np.asarray(current, dtype="float64")
    reference, current = reference[~np.isnan(reference)], current[~np.isnan(current)]
    if reference.size == 0 or current.size == 0:
        return Drift(0.0, 0.0, 1.0, [])
    edges = bin_edges(reference)
    ref_share = np.histogram(reference, edges)[0] / reference.size
    cur_share = np.histogram(current, edges)[0] / current.size
    from scipy import stats  # here, not at import: scipy.stats alone costs ~1 s of every code-location load

    rng = np.random.default_rng(0)  # deterministic sample: same partition, same verdict
    ks = stats.ks_2samp(_sample(reference, rng), _sample(current, rng))
    order = np.argsort(-np.abs(cur_share - ref_share))[:top]
    top_bins = [
        {"bin": _label(edges, i), "reference": round(float(ref_share[i]), 4), "current": round(float(cur_share[i]), 4)}
        for i in order
    ]
    return Drift(psi(ref_share, cur_share), float(ks.statistic), float(ks.pvalue), top_bins)


def _label(edges: np.ndarray, i: int) -> str:
    low, high = edges[i], edges[i + 1]
    return f"[{'-inf' if np.isinf(low) else f'{low:.3g}'}, {'inf' if np.isinf(high) else f'{high:.3g}'})"


def severity(value: float, warn: float, error: float) -> str | None:
    """None (healthy), "WARN" or "ERROR" for a statistic against its two thresholds."""
    if value >= error:
        return "ERROR"
    if value >= warn:
        return "WARN"
    return None
