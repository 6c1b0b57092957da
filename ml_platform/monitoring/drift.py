"""Drift of one statistic against a reference: PSI as the size of the shift, a chi-square test as
the evidence that it is real.

PSI (on the reference's deciles, or on its categories) keeps the bands teams know (0.1 / 0.25), but
on small samples it is mostly noise: two samples of 50 rows from the same distribution have an
expected PSI near 0.2. So a shift counts only when it is also significant: a two-sample Pearson
chi-square test on the same kind of bins (as many equal-mass bins as keep about 5 current rows per
bin, at most 10; rare categories pooled) must reject "same distribution" at the check's
significance level. Large tables are then judged by the PSI bands, small tables by the evidence
(the way Evidently picks chi-square or KS for small samples).

The chi-square tail (integer degrees of freedom: a closed form with ``math.erfc``) and the
hypergeometric tail are computed here rather than with scipy: importing ``scipy.special`` alone
took 0.3-1.2 s of the check's 2 s budget in a fresh step process (tests compare both with scipy).
"""

import math
from dataclasses import dataclass

import numpy as np

from ml_platform.monitoring.sketch import Sketch, weighted_quantiles

BINS = 10
EPS = 1e-4  # floor on a bin's share so an empty bin does not make PSI infinite
MIN_EXPECTED = 10.0  # current rows expected per chi-square bin: the approximation holds in the far tail
UNSEEN = "(unseen)"
OTHER = "(other)"


@dataclass(frozen=True)
class Drift:
    psi: float
    pvalue: float
    rows: float  # current rows
    reference_rows: float
    top_bins: list[dict]  # bins with the largest |current - reference| share, largest first
    unseen: list[str]  # categories absent from a complete reference, or clearly beyond an incomplete one's tail


def psi(reference_share: np.ndarray, current_share: np.ndarray) -> float:
    ref, cur = np.maximum(reference_share, EPS), np.maximum(current_share, EPS)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def measure_drift(reference: Sketch, current: Sketch, top: int = 3) -> Drift:
    """Drift of ``current`` against ``reference`` (both numeric or both categorical)."""
    if current.categorical:
        return _categorical(reference, current, top)
    return _numeric(reference, current, top)


def _numeric(reference: Sketch, current: Sketch, top: int) -> Drift:
    edges = _edges(reference, BINS)
    ref_counts, cur_counts = _counts(reference, edges), _counts(current, edges)
    ref_share, cur_share = ref_counts / reference.rows, cur_counts / current.rows
    test_edges = _edges(reference, int(np.clip(current.rows // MIN_EXPECTED, 2, BINS)))
    pvalue = chi_square_pvalue(_counts(reference, test_edges), _counts(current, test_edges))
    labels = [_label(edges, i) for i in range(len(edges) - 1)]
    return Drift(psi(ref_share, cur_share), pvalue, current.rows, reference.rows, _top(labels, ref_share, cur_share, top), [])


def _edges(reference: Sketch, bins: int) -> np.ndarray:
    inner = np.unique(weighted_quantiles(reference.sorted_values(), reference.weights, np.arange(1, bins) / bins))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def _counts(sketch: Sketch, edges: np.ndarray) -> np.ndarray:
    """Rows per bin [edges[i], edges[i + 1])."""
    if sketch.ordered:  # a partition's own values, sorted once: a few binary searches
        below = np.searchsorted(sketch.values, edges[1:-1], side="left")
        return np.diff(np.concatenate([[0], below, [sketch.values.size]])).astype("float64")
    index = np.searchsorted(edges[1:-1], sketch.values, side="right")
    return np.bincount(index, weights=sketch.weights, minlength=len(edges) - 1).astype("float64")


def _categorical(reference: Sketch, current: Sketch, top: int) -> Drift:
    """Per listed category, plus ``other``. A complete reference (every category listed): a current
    category outside it is unseen. An incomplete one: a current category outside it is unseen only
    when it has clearly more rows than any unlisted category of the reference could have had
    (``tail_bound``); it gets its own bin with that bound as its reference count."""
    listed = set(reference.counts)
    complete = reference.other == 0
    bins = {category: [count, 0.0] for category, count in reference.counts.items()}
    bins[OTHER] = [reference.other, 0.0]
    bins[UNSEEN] = [0.0, 0.0]
    bound = reference.tail_bound / reference.rows * current.rows  # most current rows one tail category can expect
    unseen = []
    for category, count in current.counts.items():
        if category in listed:
            bins[category][1] += count
        elif complete:
            bins[UNSEEN][1] += count
            unseen.append(category)
        elif count > bound + 3 * math.sqrt(bound) + MIN_EXPECTED:
            held = min(reference.tail_bound, bins[OTHER][0])  # at most this much of the reference's tail was it
            bins[OTHER][0] -= held
            bins[f"{category} (new)"] = [held, count]
            unseen.append(category)
        else:
            bins[OTHER][1] += count
    if current.other:  # a merged current window's unlisted tail
        bins[OTHER if not complete else UNSEEN][1] += current.other
    labels = list(bins)
    ref_counts = np.array([bins[b][0] for b in labels])
    cur_counts = np.array([bins[b][1] for b in labels])
    ref_share, cur_share = ref_counts / reference.rows, cur_counts / current.rows
    drift_psi = psi(ref_share, cur_share)
    pvalue = chi_square_pvalue(*_pool_rare(ref_counts, cur_counts))
    unseen = sorted(unseen, key=lambda c: -current.counts[c])
    return Drift(drift_psi, pvalue, current.rows, reference.rows, _top(labels, ref_share, cur_share, top), unseen)


def _pool_rare(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Categories where fewer than MIN_EXPECTED current rows are expected, pooled into one bin."""
    total = ref_counts + cur_counts
    expected = total * cur_counts.sum() / max(total.sum(), 1.0)
    rare = expected < MIN_EXPECTED
    if rare.sum() <= 1:
        return ref_counts, cur_counts
    keep = ~rare
    return (
        np.append(ref_counts[keep], ref_counts[rare].sum()),
        np.append(cur_counts[keep], cur_counts[rare].sum()),
    )


def chi_square_survival(df: int, x: float) -> float:
    """P(X >= x) for X chi-square with ``df`` (integer) degrees of freedom, by the closed forms of
    the regularized upper incomplete gamma function at integer and half-integer order."""
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:  # e^-h * sum_{k < df/2} h^k / k!
        terms = [k * math.log(half) - math.lgamma(k + 1) for k in range(df // 2)]
        base = 0.0
    else:  # erfc(sqrt h) + e^-h * sum_{k = 1 .. (df-1)/2} h^(k - 1/2) / Gamma(k + 1/2)
        terms = [(k - 0.5) * math.log(half) - math.lgamma(k + 0.5) for k in range(1, (df - 1) // 2 + 1)]
        base = math.erfc(math.sqrt(half))
    tail = sum(math.exp(t - half) for t in terms)
    return min(1.0, base + tail)


def chi_square_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Two-sample Pearson chi-square test that both rows of counts come from one distribution."""
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return chi_square_survival(table.shape[1] - 1, statistic)


def one_sided_proportion_pvalue(hits: int, rows: int, ref_hits: int, ref_rows: int, higher: bool) -> float:
    """Evidence that the current share hits/rows is higher (``higher``) or lower than the
    reference's: Fisher's exact test, one-sided (the hypergeometric tail, exact for the handful
    of fallbacks or misses a small table has, where chi-square approximations claim far too much)."""
    total, hits_total = rows + ref_rows, hits + ref_hits
    low, high = max(0, rows - (total - hits_total)), min(hits_total, rows)
    # Terms more than 40 standard deviations past the mean add nothing (below e^-800): skip them.
    mean = rows * hits_total / total
    reach = int(40 * np.sqrt(max(mean * (1 - hits_total / total) * (total - rows) / max(total - 1, 1), 1.0))) + 1
    if higher:
        tail = np.arange(hits, min(high, max(hits, int(mean) + reach)) + 1)
    else:
        tail = np.arange(max(low, min(hits, int(mean) - reach)), hits + 1)
    if tail.size == 0:
        return 1.0

    def log_choose(n: int, k: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)

    # log P(X = x) at the tail's first x, then P(x + 1) / P(x) = (K - x)(n - x) / ((x + 1)(N - K - n + x + 1)).
    x = tail[:-1].astype("float64")
    ratios = np.log(hits_total - x) + np.log(rows - x) - np.log(x + 1) - np.log(total - hits_total - rows + x + 1)
    first = log_choose(hits_total, int(tail[0])) + log_choose(total - hits_total, rows - int(tail[0])) - log_choose(total, rows)
    log_p = first + np.concatenate([[0.0], np.cumsum(ratios)])
    peak = log_p.max()
    return float(min(1.0, np.exp(peak) * np.exp(log_p - peak).sum()))


def _top(labels: list[str], ref_share: np.ndarray, cur_share: np.ndarray, top: int) -> list[dict]:
    order = np.argsort(-np.abs(cur_share - ref_share), kind="stable")[:top]
    return [{"bin": labels[i], "reference": round(float(ref_share[i]), 4), "current": round(float(cur_share[i]), 4)} for i in order]


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


def judged(effect: float, pvalue: float, warn: float, error: float, alpha: float) -> str | None:
    """The severity of an effect that is also significant at level ``alpha`` (else healthy)."""
    return severity(effect, warn, error) if pvalue < alpha else None
