"""What a prediction table declares about its monitoring; every field has a default.

A ``PredictionTable`` with a ``score_column`` is monitored with ``Monitoring()`` unless it
declares ``monitoring=Monitoring(...)`` (``Monitoring(enabled=False)`` switches it off).
A callable metric is stored in the declaration as ``"callable:<module>:<qualname>"`` (the
declaration is JSON metadata on the asset), so it must be a module-level function.
"""

import importlib
from dataclasses import dataclass
from typing import Callable

METRICS = ("auc", "precision_at_k", "ctr")
CALLABLE_PREFIX = "callable:"


@dataclass(frozen=True)
class Monitoring:
    """Thresholds and columns of a table's prediction monitoring (on by default with a score_column)."""

    enabled: bool = True
    reference_partitions: int = 7  # partitions in the pinned reference window and in the day-over-day window
    segment_columns: tuple[str, ...] = ()  # extra columns whose distribution is watched too (numeric or categorical)
    item_column: str | None = None  # top-k tables: the recommended item (default: the second key column)
    # Watch the mix of recommended items (top-k tables). Off for a catalog whose items turn over
    # daily (news): new ids every day would read as a lasting drift.
    watch_item_mix: bool = True
    psi_warn: float = 0.1  # conventional PSI bands: <0.1 stable, 0.1–0.25 moderate, >0.25 major
    psi_error: float = 0.25
    significance: float = 0.0005  # chance that a stable partition fails a check (split over its statistics and windows)
    min_rows: int = 30  # a statistic with fewer rows (or expected entities) in the partition is not judged
    error_blocks_consumers: bool = False  # an ERROR drift/coverage result stops consumers (same run and the gate)
    entity_column: str | None = None  # column of entities that should get predictions (default: first key column)
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

    def problems(self, score_column: str | None) -> list[tuple[str, str]]:
        """(field, problem) pairs; field names are prefixed with ``monitoring.``."""
        found: list[tuple[str, str]] = []

        def bad(name: str, problem: str) -> None:
            found.append((f"monitoring.{name}", problem))

        if not self.enabled:
            return found
        if score_column is None:
            bad("enabled", "monitoring needs expectations.score_column (or Monitoring(enabled=False))")
        if self.reference_partitions < 1:
            bad("reference_partitions", f"must be at least 1, got {self.reference_partitions}")
        if not 0 < self.significance < 0.5:
            bad("significance", f"must be within (0, 0.5), e.g. 0.001, got {self.significance}")
        if self.min_rows < 10:
            bad("min_rows", f"must be at least 10 (the tests need about 5 rows per bin), got {self.min_rows}")
        if isinstance(self.segment_columns, str) or not all(isinstance(c, str) and c for c in self.segment_columns):
            bad("segment_columns", f"must be a tuple of column names, got {self.segment_columns!r}")
        for name, warn, error in (
            ("psi", self.psi_warn, self.psi_error),
            ("coverage_drop", self.coverage_drop_warn, self.coverage_drop_error),
            ("fallback_rise", self.fallback_rise_warn, self.fallback_rise_error),
        ):
            if not 0 < warn <= error:
                bad(f"{name}_warn", f"need 0 < {name}_warn <= {name}_error, got {warn}, {error}")
        if self.fallback_column and self.fallback_score is not None:
            bad("fallback_score", "declare either fallback_column or fallback_score, not both")
        if self.expected_entities is not None and not self.expected_entities.strip():
            bad("expected_entities", "must name an asset key, e.g. 'active_users'")
        if self.label_table is not None and not self.label_table.strip():
            bad("label_table", "must name an asset key, e.g. 'conversion_labels'")
        if isinstance(self.metric, str):
            if self.metric.startswith(CALLABLE_PREFIX):
                try:
                    resolve_callable(self.metric)
                except (ImportError, AttributeError, ValueError) as error:
                    bad("metric", f"cannot import {self.metric[len(CALLABLE_PREFIX):]!r}: {error}")
            elif self.metric not in METRICS:
                bad("metric", f"unknown metric {self.metric!r} (known: {', '.join(METRICS)}, or a module-level callable)")
        elif callable(self.metric):
            if "<" in getattr(self.metric, "__qualname__", "<") or getattr(self.metric, "__module__", None) is None:
                bad("metric", "a callable metric must be a module-level function (it is stored by its import path)")
        else:
            bad("metric", f"must be a metric name or a callable, got {self.metric!r}")
        if self.k < 1:
            bad("k", f"must be at least 1, got {self.k}")
        if self.metric_floor is not None and not 0 <= self.metric_floor <= 1 and self.metric in METRICS:
            bad("metric_floor", f"must be within [0, 1] for {self.metric}, got {self.metric_floor}")
        if self.decay_window < 2:
            bad("decay_window", f"must be at least 2, got {self.decay_window}")
        if self.max_decay <= 0:
            bad("max_decay", f"must be positive, got {self.max_decay}")
        return found

    def for_table(self, key_columns: tuple[str, ...], top_k: int | None = None) -> "Monitoring":
        """These settings with the entity column defaulted to the table's first key column and, for a
        top-k table (k rows per entity), the item column to its second."""
        from dataclasses import replace

        settings = self
        if not settings.entity_column and key_columns:
            settings = replace(settings, entity_column=key_columns[0])
        if top_k and not settings.item_column and len(key_columns) >= 2:
            settings = replace(settings, item_column=key_columns[1])
        return settings

    @property
    def has_coverage(self) -> bool:
        """Coverage means something only against an expected population or a fallback marker."""
        return bool(self.expected_entities or self.fallback_column or self.fallback_score is not None)

    @property
    def metric_name(self) -> str:
        metric = self.metric
        if callable(metric):
            return metric.__name__
        return metric.split(":")[-1] if metric.startswith(CALLABLE_PREFIX) else metric

    def metric_function(self) -> str | Callable:
        """The metric as ``compute_metric`` takes it: a known name or the callable itself."""
        if isinstance(self.metric, str) and self.metric.startswith(CALLABLE_PREFIX):
            return resolve_callable(self.metric)
        return self.metric


def callable_path(function: Callable) -> str:
    return f"{CALLABLE_PREFIX}{function.__module__}:{function.__qualname__}"


def resolve_callable(path: str) -> Callable:
    module, _, name = path[len(CALLABLE_PREFIX) :].partition(":")
    if not module or not name:
        raise ValueError("expected 'callable:<module>:<function>'")
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{name} is not callable")
    return target
