"""Small, mergeable summaries of one statistic of one partition (a score, a segment column, an item mix).

The monitoring check records one per statistic when a partition is checked, so later checks compare
with a reference window by merging a few KiB of summaries instead of re-reading N x 1M rows:

* numeric: at most ``ATOMS`` equal-mass quantiles (every value when there are fewer), each standing
  for ``rows / len(atoms)`` rows. Shares per bin are then exact to 1/ATOMS of a partition, far below
  what the PSI bands resolve. Stored as base64 float32 (about 1 KiB).
* categorical: the ``TOP_CATEGORIES`` most frequent categories and the mass of the rest (``other``).
  With no ``other`` mass the list is complete, so a category outside it was never seen.
"""

import base64
from dataclasses import dataclass

import numpy as np
import pandas as pd

ATOMS = 200
TOP_CATEGORIES = 50


@dataclass(frozen=True)
class Sketch:
    """Rows of one statistic: numeric values with weights, or category counts."""

    rows: float
    values: np.ndarray | None = None  # numeric: raw values or quantile atoms
    weights: np.ndarray | None = None  # rows each value stands for (None: one each)
    counts: dict[str, float] | None = None  # categorical
    other: float = 0.0  # categorical: rows of categories not listed in ``counts``
    ordered: bool = False  # numeric, unweighted: values sorted

    @property
    def categorical(self) -> bool:
        return self.counts is not None

    @staticmethod
    def of(values, categorical: bool) -> "Sketch":
        """Every non-null value of a column (exact: compact() before storing)."""
        series = pd.Series(values)
        series = series[series.notna()]
        if categorical:
            counts = series.astype(str).value_counts()
            return Sketch(float(len(series)), counts={str(k): float(v) for k, v in counts.items()})
        return Sketch(float(len(series)), values=np.sort(series.to_numpy(dtype="float64")), ordered=True)

    def compact(self) -> "Sketch":
        """At most ATOMS quantiles or TOP_CATEGORIES categories, same rows."""
        if self.categorical:
            ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
            kept = dict(ranked[:TOP_CATEGORIES])
            return Sketch(self.rows, counts=kept, other=self.other + sum(v for _, v in ranked[TOP_CATEGORIES:]))
        values = self.sorted_values()
        if self.weights is None and values.size <= ATOMS:
            return Sketch(self.rows, values=values, ordered=True)
        atoms = weighted_quantiles(values, self.weights, (np.arange(ATOMS) + 0.5) / ATOMS)
        return Sketch(self.rows, values=atoms, weights=np.full(ATOMS, self.rows / ATOMS))

    def sorted_values(self) -> np.ndarray:
        """The values, sorted when unweighted (what ``weighted_quantiles`` needs)."""
        return self.values if self.ordered or self.weights is not None else np.sort(self.values)

    def value_weights(self) -> np.ndarray:
        return np.ones(self.values.size) if self.weights is None else self.weights

    @staticmethod
    def merge(sketches: list["Sketch"]) -> "Sketch | None":
        """One sketch of the rows of several (a reference window)."""
        sketches = [s for s in sketches if s is not None and s.rows > 0]
        if not sketches:
            return None
        rows = sum(s.rows for s in sketches)
        if sketches[0].categorical:
            counts: dict[str, float] = {}
            for s in sketches:
                for category, count in s.counts.items():
                    counts[category] = counts.get(category, 0.0) + count
            return Sketch(rows, counts=counts, other=sum(s.other for s in sketches))
        return Sketch(rows, values=np.concatenate([s.values for s in sketches]), weights=np.concatenate([s.value_weights() for s in sketches]))

    def to_json(self) -> dict:
        compact = self.compact()
        if compact.categorical:
            return {"rows": compact.rows, "counts": compact.counts, "other": compact.other}
        return {"rows": compact.rows, "atoms": base64.b64encode(compact.values.astype("<f4").tobytes()).decode()}

    @staticmethod
    def from_json(data: dict) -> "Sketch":
        if "counts" in data:
            return Sketch(float(data["rows"]), counts={k: float(v) for k, v in data["counts"].items()}, other=float(data["other"]))
        atoms = np.frombuffer(base64.b64decode(data["atoms"]), dtype="<f4").astype("float64")
        rows = float(data["rows"])
        return Sketch(rows, values=atoms, weights=np.full(atoms.size, rows / atoms.size) if atoms.size else None)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray | None, probabilities: np.ndarray) -> np.ndarray:
    """The smallest value whose cumulative weight reaches each probability (inverted CDF); without
    weights ``values`` must be sorted."""
    if weights is None:  # ``values`` sorted
        return values[np.clip(np.ceil(probabilities * values.size).astype(int) - 1, 0, values.size - 1)]
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    positions = np.searchsorted(cumulative, probabilities * cumulative[-1], side="left")
    return values[order][np.minimum(positions, values.size - 1)]
