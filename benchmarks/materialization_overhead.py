"""Per-materialization overhead of the platform versus a plain asset doing the same compute.

Both assets score the same 200,000 users with the same NumPy model and write the daily
partition to DuckDB on the same temporary Dagster instance. Platform: declared with
``PredictionTable.asset_kwargs()`` (freshness policy, retry policy, compute-profile tags,
declaration metadata) and written by ``SafeDuckDBPandasIOManager``. Plain: ``@dg.asset``
with the same partitions, written by dagster-duckdb-pandas' ``DuckDBPandasIOManager``.
Materializations alternate; the overhead is (platform median - plain median) / plain median
(goal: <= 10%).

    python -m benchmarks.materialization_overhead --repeats 15
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb_pandas import DuckDBPandasIOManager

from ml_platform.declaration import SLO, Expectations, PredictionTable, daily_partitions
from ml_platform.resources.warehouse import SCHEMA, SafeDuckDBPandasIOManager

GOAL = 0.10
USERS = 200_000
FEATURES = 32
PARTITIONS = [f"2026-02-{day:02d}" for day in range(1, 29)]
TABLE = PredictionTable(
    name="platform_scores",
    product="bench",
    owner="team:bench",
    slo=SLO("0 8 * * *", timezone="UTC"),
    compute="small",
    expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
)


def score_users(partition_key: str) -> pd.DataFrame:
    """The shared compute: a logistic model over random features, one score per user."""
    rng = np.random.default_rng(int(partition_key.replace("-", "")))
    features = rng.standard_normal((USERS, FEATURES))
    weights = np.linspace(-1.0, 1.0, FEATURES)
    return pd.DataFrame(
        {
            "date": pd.Timestamp(partition_key),
            "user_id": np.arange(USERS, dtype="int64"),
            "score": 1.0 / (1.0 + np.exp(-(features @ weights))),
        }
    )


@dg.asset(**TABLE.asset_kwargs())
def platform_scores(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return score_users(context.partition_key)


@dg.asset(partitions_def=daily_partitions("UTC"), metadata={"partition_expr": "date"})
def plain_scores(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return score_users(context.partition_key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    database = None
    sides = {
        "platform": (platform_scores, lambda db: SafeDuckDBPandasIOManager(database=db, schema=SCHEMA)),
        "plain": (plain_scores, lambda db: DuckDBPandasIOManager(database=db, schema=SCHEMA)),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        database = str(Path(tmp) / "warehouse.duckdb")
        for i in range(args.repeats + 1):  # the first round warms imports and creates the tables
            partition = PARTITIONS[i % len(PARTITIONS)]
            for name in (("platform", "plain") if i % 2 == 0 else ("plain", "platform")):
                asset, io_manager = sides[name]
                started = time.perf_counter()
                result = dg.materialize([asset], partition_key=partition, instance=instance, resources={"io_manager": io_manager(database)})
                elapsed = time.perf_counter() - started
                assert result.success
                if i:
                    times[name].append(elapsed)
    platform, plain = statistics.median(times["platform"]), statistics.median(times["plain"])
    overhead = (platform - plain) / plain
    print(
        json.dumps(
            {
                "benchmark": "materialization_overhead",
                "users_per_partition": USERS,
                "platform_median_s": round(platform, 4),
                "plain_median_s": round(plain, 4),
                "overhead": round(overhead, 4),
                "overhead_ms": round((platform - plain) * 1000, 1),
                "goal": GOAL,
                "met": overhead <= GOAL,
                "runs_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
