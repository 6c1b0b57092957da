"""Writing a 10-million-row prediction table to the local warehouse, platform versus raw DuckDB.

Platform: materialize a daily-partitioned ``PredictionTable`` asset whose body returns a
prebuilt frame, through ``SafeDuckDBPandasIOManager`` (guards, delete-then-insert in one
transaction, row-count metadata), on a temporary Dagster instance. Raw: ``CREATE TABLE AS``
from the same frame on a plain DuckDB connection. Both are timed side by side, interleaved;
ratio = raw / platform (goal: >= 0.5, i.e. the platform at most twice the raw time).

    python -m benchmarks.warehouse_write --rows 10000000 --repeats 3
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd

from ml_platform.declaration import SLO, Expectations, PredictionTable
from ml_platform.resources.warehouse import SCHEMA, SafeDuckDBPandasIOManager

GOAL = 0.5
PARTITION = "2026-03-01"
TABLE = PredictionTable(
    name="bench_predictions",
    product="bench",
    owner="team:bench",
    slo=SLO("0 8 * * *", timezone="UTC"),
    compute="small",
    expectations=Expectations(key_columns=("user_id", "item_id"), score_column="score", score_range=(0.0, 1.0)),
)


def prediction_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "date": pd.Timestamp(PARTITION),
            "user_id": np.arange(rows, dtype="int64") // 10,
            "item_id": rng.integers(0, 100_000, rows),
            "rank": np.tile(np.arange(1, 11, dtype="int64"), rows // 10 + 1)[:rows],
            "score": rng.random(rows),
        }
    )


def platform_write(frame: pd.DataFrame, database: Path, instance: dg.DagsterInstance) -> float:
    @dg.asset(**TABLE.asset_kwargs())
    def bench_predictions() -> pd.DataFrame:
        return frame

    started = time.perf_counter()
    result = dg.materialize(
        [bench_predictions],
        partition_key=PARTITION,
        instance=instance,
        resources={"io_manager": SafeDuckDBPandasIOManager(database=str(database), schema=SCHEMA)},
    )
    elapsed = time.perf_counter() - started
    assert result.success
    return elapsed


def raw_write(frame: pd.DataFrame, database: Path) -> float:
    started = time.perf_counter()
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"create schema if not exists {SCHEMA}")
        conn.execute(f"create or replace table {SCHEMA}.bench_predictions as select * from frame")
    return time.perf_counter() - started


def check_written(database: Path, rows: int) -> None:
    with duckdb.connect(str(database), read_only=True) as conn:
        count = conn.execute(f"select count(*) from {SCHEMA}.bench_predictions").fetchone()[0]
    if count != rows:
        raise RuntimeError(f"{database}: expected {rows} rows, found {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    frame = prediction_frame(args.rows)
    times: dict[str, list[float]] = {"platform_first_write": [], "platform_rewrite": [], "raw_ctas": []}
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        for i in range(args.repeats):
            platform_db, raw_db = Path(tmp) / f"platform_{i}.duckdb", Path(tmp) / f"raw_{i}.duckdb"
            order = ("platform", "raw") if i % 2 == 0 else ("raw", "platform")
            for side in order:
                if side == "raw":
                    times["raw_ctas"].append(raw_write(frame, raw_db))
                    check_written(raw_db, args.rows)
                else:
                    times["platform_first_write"].append(platform_write(frame, platform_db, instance))
                    times["platform_rewrite"].append(platform_write(frame, platform_db, instance))  # replaces the partition
                    check_written(platform_db, args.rows)
            platform_db.unlink()
            raw_db.unlink()
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratios = {
        "first_write": medians["raw_ctas"] / medians["platform_first_write"],
        "rewrite": medians["raw_ctas"] / medians["platform_rewrite"],
    }
    print(
        json.dumps(
            {
                "benchmark": "warehouse_write",
                "rows": args.rows,
                "medians_s": {k: round(v, 3) for k, v in medians.items()},
                "ratio_raw_over_platform": {k: round(v, 3) for k, v in ratios.items()},
                "goal": GOAL,
                "met": all(r >= GOAL for r in ratios.values()),
                "runs_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
