"""What a prediction table declares about its monitoring; every field has a default."""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Monitoring:
    """Thresholds and columns of a table's prediction monitoring (on by default with a score_column)."""

    enabled: bool = True
    reference_partitions: int = 7  # trailing partitions that form the drift reference
    segment_columns: tuple[str, ...] = ()  # extra columns whose distribution is watched too
    psi_warn: float = 0.1  # conventional PSI bands: <0.1 stable, 0.1–0.25 moderate, >0.25 major
    psi_error: float = 0.25
    drift_blocks_consumers: bool = False  # an ERROR drift result stops downstream assets in the run
    entity_column: str | None = None  # column of entities that should get predictions
    expected_entities: str | None = None  # upstream asset key (user string) listing expected entities
    fallback_column: str | None = None  # boolean column marking fallback/default predictions
    fallback_score: float | None = None  # or: a score value that means "default"
    coverage_drop_warn: float = 0.05  # absolute fall of the coverage share vs trailing median
    coverage_drop_error: float = 0.15
    fallback_rise_warn: float = 0.05  # absolute rise of the fallback share vs trailing median
    fallback_rise_error: float = 0.15
    label_table: str | None = None  # asset key (user string) whose partition D holds D's outcomes
    label_column: str = "label"
    metric: str | Callable = "auc"  # "auc", "precision_at_k", "ctr" or callable(labels, scores) -> float
    k: int = 10
    metric_floor: float | None = None
    decay_window: int = 7  # partitions over which a sustained fall is measured
    max_decay: float = 0.05  # absolute fall of the metric over decay_window that alerts
