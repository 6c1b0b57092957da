"""Drift and coverage checks on one large prediction partition (the issue's 1M-row budget: <= 2 s).

Times ``assess_drift`` (score vs a 7-partition reference) and ``assess_coverage`` (expected
entities, fallback share) on generated partitions of ``--rows`` rows.

    python benchmarks/prediction_monitoring.py [--rows 1000000]

Prints one JSON object.
"""

import argparse
import json
import time

import numpy as np
import pandas as pd

from ml_platform.monitoring.assess import assess_coverage, assess_drift, coverage_of
from ml_platform.monitoring.settings import Monitoring


def partition(rows: int, day: int) -> pd.DataFrame:
    rng = np.random.default_rng([3, day])
    return pd.DataFrame(
        {"user_id": rng.permutation(int(rows * 1.05))[:rows], "score": rng.beta(2, 5, rows), "is_fallback": rng.random(rows) < 0.02}
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    settings = Monitoring(entity_column="user_id", fallback_column="is_fallback")
    reference = [partition(args.rows, d) for d in range(settings.reference_partitions)]
    current = partition(args.rows, 99)
    expected = np.arange(int(args.rows * 1.05))
    history = [coverage_of(r, expected, "score", settings) for r in reference]
    start = time.perf_counter()
    drift = assess_drift(current, reference, "score", settings)
    drift_s = time.perf_counter() - start
    start = time.perf_counter()
    coverage = assess_coverage(coverage_of(current, expected, "score", settings), history, settings)
    coverage_s = time.perf_counter() - start
    print(json.dumps({
        "rows": args.rows,
        "reference_rows": args.rows * len(reference),
        "drift_seconds": round(drift_s, 3),
        "coverage_seconds": round(coverage_s, 3),
        "total_seconds": round(drift_s + coverage_s, 3),
        "budget_seconds": 2.0,
        "drift_psi": drift.metadata["psi"],
        "coverage_severity": coverage.severity,
    }))


if __name__ == "__main__":
    main()
