"""Writing a 10-million-row prediction table to the local warehouse, platform versus raw DuckDB.

Platform: materialize a daily-partitioned ``PredictionTable`` asset whose body returns a
prebuilt frame, through ``SafeDuckDBPandasIOManager`` (guards, delete-then-insert in one
transaction, row-count metadata), on a temporary Dagster instance. Raw: ``CREATE TABLE AS``
from the same frame on a plain DuckDB connection. Also Dagster's own ``DuckDBPandasIOManager`` (no transaction, no guards) for
reference. All are timed side by side, interleaved;
ratio = raw / platform (goal: >= 0.8 for the first write and the rewrite).

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
from dagster_duckdb_pandas import DuckDBPandasIOManager

from ml_platform.declaration import SLO, Expectations, PredictionTable
from ml_platform.resources.warehouse import SCHEMA, SafeDuckDBPandasIOManager

GOAL = 0.8
WRITE_ONLY: dict[str, list[float]] = {}  # IO manager -> seconds from the step's output to its handled output (the write alone)
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


def platform_write(frame: pd.DataFrame, database: Path, instance: dg.DagsterInstance, io_manager=SafeDuckDBPandasIOManager) -> float:
    @dg.asset(**TABLE.asset_kwargs())
    def bench_predictions() -> pd.DataFrame:
        return frame

    label = f"{io_manager.__name__} {'rewrite' if database.exists() else 'first_write'}"
    started = time.perf_counter()
    result = dg.materialize(
        [bench_predictions],
        partition_key=PARTITION,
        instance=instance,
        resources={"io_manager": io_manager(database=str(database), schema=SCHEMA)},
    )
    elapsed = time.perf_counter() - started
    assert result.success
    logs = {e.dagster_event_type: e.timestamp for e in instance.all_logs(result.run_id) if e.dagster_event_type}
    WRITE_ONLY.setdefault(label, []).append(logs[dg.DagsterEventType.HANDLED_OUTPUT] - logs[dg.DagsterEventType.STEP_OUTPUT])
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
    times: dict[str, list[float]] = {k: [] for k in ("platform_first_write", "platform_rewrite", "raw_ctas", "dagster_duckdb_first_write", "dagster_duckdb_rewrite")}
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        for i in range(args.repeats):
            platform_db, raw_db, plain_db = (Path(tmp) / f"{side}_{i}.duckdb" for side in ("platform", "raw", "plain"))
            order = ("platform", "raw", "plain") if i % 2 == 0 else ("plain", "raw", "platform")
            for side in order:
                if side == "raw":
                    times["raw_ctas"].append(raw_write(frame, raw_db))
                    check_written(raw_db, args.rows)
                elif side == "plain":  # Dagster's own DuckDB IO manager (no transaction, no guards)
                    times["dagster_duckdb_first_write"].append(platform_write(frame, plain_db, instance, DuckDBPandasIOManager))
                    times["dagster_duckdb_rewrite"].append(platform_write(frame, plain_db, instance, DuckDBPandasIOManager))
                    check_written(plain_db, args.rows)
                else:
                    times["platform_first_write"].append(platform_write(frame, platform_db, instance))
                    times["platform_rewrite"].append(platform_write(frame, platform_db, instance))  # replaces the partition
                    check_written(platform_db, args.rows)
            for database in (platform_db, raw_db, plain_db):
                database.unlink()
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratios = {
        "first_write": medians["raw_ctas"] / medians["platform_first_write"],
        "rewrite": medians["raw_ctas"] / medians["platform_rewrite"],
    }
    dagster_ratios = {k: medians["raw_ctas"] / medians[f"dagster_duckdb_{k}"] for k in ("first_write", "rewrite")}
    print(
        json.dumps(
            {
                "benchmark": "warehouse_write",
                "rows": args.rows,
                "medians_s": {k: round(v, 3) for k, v in medians.items()},
                "ratio_raw_over_platform": {k: round(v, 3) for k, v in ratios.items()},
                "ratio_raw_over_dagster_duckdb_io_manager": {k: round(v, 3) for k, v in dagster_ratios.items()},
                "io_manager_write_only_median_s": {k: round(statistics.median(v), 3) for k, v in WRITE_ONLY.items()},
                "goal": GOAL,
                "met": all(r >= GOAL for r in ratios.values()),
                "runs_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
