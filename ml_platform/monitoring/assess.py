"""Verdicts of the ``prediction_drift`` and ``prediction_coverage`` checks for one partition.

Both take the current partition plus the trailing partitions (the reference), so the same code
serves a check op inside a run and a 30-day replay in tests and benchmarks.
"""

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ml_platform.monitoring.coverage import Coverage, change_vs_median, measure_coverage
from ml_platform.monitoring.drift import measure_drift, severity
from ml_platform.monitoring.settings import Monitoring

DRIFT_CHECK = "prediction_drift"
COVERAGE_CHECK = "prediction_coverage"


@dataclass(frozen=True)
class Assessment:
    check: str
    severity: str | None  # None: passed
    metadata: dict = field(default_factory=dict)


def assess_drift(current: pd.DataFrame, reference: Sequence[pd.DataFrame], score_column: str, settings: Monitoring) -> Assessment:
    """Worst PSI over the score and the declared segment columns against the trailing partitions."""
    if not reference:
        return Assessment(DRIFT_CHECK, None, {"reference_partitions": 0, "note": "no reference yet"})
    per_column = {}
    for column in (score_column, *settings.segment_columns):
        ref = np.concatenate([r[column].to_numpy(dtype="float64") for r in reference])
        per_column[column] = measure_drift(ref, current[column].to_numpy(dtype="float64"))
    worst_column, worst = max(per_column.items(), key=lambda item: item[1].psi)
    return Assessment(
        DRIFT_CHECK,
        severity(worst.psi, settings.psi_warn, settings.psi_error),
        {
            "reference_partitions": len(reference),
            "statistic": "PSI (reference deciles) + two-sample KS",
            "worst_column": worst_column,
            "psi": round(worst.psi, 4),
            "ks_statistic": round(worst.ks_statistic, 4),
            "ks_pvalue": worst.ks_pvalue,
            "top_shifted_bins": worst.top_bins,
            "psi_by_column": {c: round(d.psi, 4) for c, d in per_column.items()},
        },
    )


def coverage_of(frame: pd.DataFrame, expected, score_column: str, settings: Monitoring) -> Coverage:
    return measure_coverage(frame, settings.entity_column, expected, settings.fallback_column, settings.fallback_score, score_column)


def assess_coverage(current: Coverage, history: Sequence[Coverage], settings: Monitoring) -> Assessment:
    """Coverage fall and fallback rise, each against the median of the trailing partitions."""
    drop = change_vs_median(current.covered_share, [h.covered_share for h in history])
    rise = change_vs_median(current.fallback_share, [h.fallback_share for h in history])
    levels = [
        severity(-drop, settings.coverage_drop_warn, settings.coverage_drop_error) if drop is not None else None,
        severity(rise, settings.fallback_rise_warn, settings.fallback_rise_error) if rise is not None else None,
    ]
    worst = "ERROR" if "ERROR" in levels else "WARN" if "WARN" in levels else None
    return Assessment(
        COVERAGE_CHECK,
        worst,
        {
            "reference_partitions": len(history),
            "covered_share": current.covered_share,
            "covered_change_vs_median": drop,
            "fallback_share": current.fallback_share,
            "fallback_change_vs_median": rise,
        },
    )
