"""Coverage: which expected entities got a prediction, and how many got the fallback."""

from dataclasses import dataclass
from statistics import median
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Coverage:
    covered_share: float | None  # expected entities with at least one prediction (None: nothing expected declared)
    fallback_share: float | None  # predicted entities whose prediction is the fallback (None: no marker)


def measure_coverage(
    predictions: pd.DataFrame,
    entity_column: str,
    expected: Sequence | None = None,
    fallback_column: str | None = None,
    fallback_score: float | None = None,
    score_column: str | None = None,
) -> Coverage:
    entities = predictions[entity_column].to_numpy()
    covered = None
    if expected is not None:
        expected = np.unique(np.asarray(expected))
        covered = float(np.isin(expected, entities).mean()) if expected.size else 1.0
    fallback = None
    marker = None
    if fallback_column:
        marker = predictions[fallback_column].to_numpy().astype(bool)
    elif fallback_score is not None and score_column:
        marker = np.isclose(predictions[score_column].to_numpy(dtype="float64"), fallback_score)
    if marker is not None:
        # share of entities for which every prediction is the fallback
        per_entity = pd.Series(marker).groupby(entities).all()
        fallback = float(per_entity.mean()) if len(per_entity) else 0.0
    return Coverage(covered, fallback)


def change_vs_median(current: float | None, history: Sequence[float | None]) -> float | None:
    """``current`` minus the median of the known trailing values (None without history)."""
    known = [h for h in history if h is not None]
    if current is None or not known:
        return None
    return current - median(known)
