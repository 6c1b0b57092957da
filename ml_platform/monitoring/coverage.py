"""Coverage: which expected entities got a prediction, and how many got only the fallback.

Counted once per partition (``CoverageCounts``) and recorded with the partition's summary, so the
reference windows are sums of recorded counts, never a re-read of old partitions.
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CoverageCounts:
    entities: int  # distinct entities with a prediction
    expected: int | None = None  # distinct expected entities (None: no expected population declared)
    covered: int | None = None  # expected entities with at least one prediction
    fallback: int | None = None  # predicted entities whose every prediction is the fallback (None: no marker)

    @property
    def covered_share(self) -> float | None:
        return None if self.expected is None else (self.covered / self.expected if self.expected else 1.0)

    @property
    def fallback_share(self) -> float | None:
        return None if self.fallback is None else (self.fallback / self.entities if self.entities else 0.0)

    def to_json(self) -> dict:
        return {"entities": self.entities, "expected": self.expected, "covered": self.covered, "fallback": self.fallback}

    @staticmethod
    def from_json(data: dict) -> "CoverageCounts":
        return CoverageCounts(**data)

    @staticmethod
    def pooled(counts: Sequence["CoverageCounts"]) -> "CoverageCounts | None":
        """The counts of several partitions added up (a reference window)."""
        if not counts:
            return None

        def total(name: str) -> int | None:
            """Over the partitions that have it: one partition without its expected population
            (missing that day) does not blind the window."""
            values = [v for c in counts if (v := getattr(c, name)) is not None]
            return int(sum(values)) if values else None

        return CoverageCounts(total("entities"), total("expected"), total("covered"), total("fallback"))


def count_coverage(
    predictions: pd.DataFrame,
    entity_column: str,
    expected: Sequence | None = None,
    fallback_column: str | None = None,
    fallback_score: float | None = None,
    score_column: str | None = None,
) -> CoverageCounts:
    entities = predictions[entity_column].to_numpy()
    unique = distinct(entities)
    expected_count = covered = None
    if expected is not None:
        wanted = distinct(np.asarray(expected))
        found = np.minimum(np.searchsorted(unique, wanted), max(len(unique) - 1, 0))
        expected_count, covered = len(wanted), int((unique[found] == wanted).sum()) if len(unique) else 0
    fallback = None
    marker = None
    if fallback_column:
        marker = predictions[fallback_column].to_numpy().astype(bool)
    elif fallback_score is not None and score_column:
        marker = np.isclose(predictions[score_column].to_numpy(dtype="float64"), fallback_score)
    if marker is not None:  # entities whose every prediction is the fallback
        one_each = len(unique) == len(entities)
        fallback = int(marker.sum()) if one_each else len(unique) - len(distinct(entities[~marker]))
    return CoverageCounts(len(unique), expected_count, covered, fallback)


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values by one sort (numpy 2's hash-based ``np.unique`` takes seconds on 1M ids here)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if ordered.size else ordered
