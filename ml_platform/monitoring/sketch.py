"""Small, mergeable summaries of one statistic of one partition (a score, a segment column, an item mix).

The monitoring check records one per statistic when a partition is checked, so later checks compare
with a reference window by merging a few KiB of summaries instead of re-reading N x 1M rows:

* numeric: at most ``ATOMS`` equal-mass quantiles (every value when there are fewer), each standing
  for ``rows / len(atoms)`` rows. Shares per bin are then exact to 1/ATOMS of a partition, far below
  what the PSI bands resolve. Stored as base64 float32 (about 1 KiB).
* categorical: the ``TOP_CATEGORIES`` most frequent categories, the mass of the rest (``other``) and
  the rows of the largest category of the rest (``tail_max``). With no ``other`` mass the list is
  complete, so a category outside it was never seen. A merged window lists only the categories it
  counts exactly (listed, or absent from a complete list, in every partition): one partition's
  50th category is often another's 51st, and a share counted in some partitions only would read
  as drift against an exact partition.
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
    tail_max: float | None = None  # categorical: at most this many rows of any one unlisted category (None: unknown)
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
            kept, dropped = dict(ranked[:TOP_CATEGORIES]), ranked[TOP_CATEGORIES:]
            tail_max = max([self.tail_bound, *(v for _, v in dropped[:1])])
            return Sketch(self.rows, counts=kept, other=self.other + sum(v for _, v in dropped), tail_max=tail_max)
        values = self.sorted_values()
        if self.weights is None and values.size <= ATOMS:
            return Sketch(self.rows, values=values, ordered=True)
        atoms = weighted_quantiles(values, self.weights, (np.arange(ATOMS) + 0.5) / ATOMS)
        return Sketch(self.rows, values=atoms, weights=np.full(ATOMS, self.rows / ATOMS))

    @property
    def tail_bound(self) -> float:
        """Rows any one unlisted category can have had (a stored sketch without ``tail_max``: its
        smallest listed category, which no unlisted one exceeded)."""
        if not self.other:
            return 0.0
        if self.tail_max is not None:
            return self.tail_max
        return min([self.other, *self.counts.values()])

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
            return _merge_categories(sketches, rows)
        return Sketch(rows, values=np.concatenate([s.values for s in sketches]), weights=np.concatenate([s.value_weights() for s in sketches]))

    def to_json(self) -> dict:
        compact = self.compact()
        if compact.categorical:
            return {"rows": compact.rows, "counts": compact.counts, "other": compact.other, "tail_max": compact.tail_bound}
        return {"rows": compact.rows, "atoms": base64.b64encode(compact.values.astype("<f4").tobytes()).decode()}

    @staticmethod
    def from_json(data: dict) -> "Sketch":
        if "counts" in data:
            tail_max = float(data["tail_max"]) if "tail_max" in data else None
            return Sketch(float(data["rows"]), counts={k: float(v) for k, v in data["counts"].items()}, other=float(data["other"]), tail_max=tail_max)
        atoms = np.frombuffer(base64.b64decode(data["atoms"]), dtype="<f4").astype("float64")
        rows = float(data["rows"])
        return Sketch(rows, values=atoms, weights=np.full(atoms.size, rows / atoms.size) if atoms.size else None)


def _merge_categories(sketches: list[Sketch], rows: float) -> Sketch:
    """The categories counted exactly in every partition keep their counts; the rest join ``other``.
    ``tail_max``: the most rows one category of ``other`` can have had over the window."""
    counts: dict[str, float] = {}
    for s in sketches:
        for category, count in s.counts.items():
            counts[category] = counts.get(category, 0.0) + count
    partial = [s for s in sketches if s.other]  # their unlisted categories are unknown
    kept = {c: n for c, n in counts.items() if all(c in s.counts for s in partial)}
    dropped = {c: n for c, n in counts.items() if c not in kept}
    never_listed = sum(s.tail_bound for s in partial)
    tail_max = max([never_listed, *(n + sum(s.tail_bound for s in partial if c not in s.counts) for c, n in dropped.items())])
    return Sketch(rows, counts=kept, other=sum(s.other for s in sketches) + sum(dropped.values()), tail_max=tail_max)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray | None, probabilities: np.ndarray) -> np.ndarray:
    """The smallest value whose cumulative weight reaches each probability (inverted CDF); without
    weights ``values`` must be sorted."""
    if weights is None:  # ``values`` sorted
        return values[np.clip(np.ceil(probabilities * values.size).astype(int) - 1, 0, values.size - 1)]
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    positions = np.searchsorted(cumulative, probabilities * cumulative[-1], side="left")
    return values[order][np.minimum(positions, values.size - 1)]
