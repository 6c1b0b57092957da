"""The prediction-monitoring check op at scale, through Dagster: a 1M-row partition with 7 days of
history (the issue's budget: at most 2 s and 512 MiB peak).

Setup (untimed): a PostgreSQL-backed Dagster instance and a local DuckDB warehouse; one monitored
prediction table of ``--rows`` rows a day (user_id, score, is_fallback) with an expected-users
table of 1.05 x rows and a fallback marker. Days 0 .. ``--days``-1 are materialized with their
monitoring check (what the history is made of), then the next two days' partitions are written: a
healthy one and one whose scores broke.

Timed: for each of the two days, in a fresh process (as a step's own process), ``dg.materialize``
of the table's monitoring check alone: wall time, the step's own duration (STEP_START to
STEP_SUCCESS), the check's compute (STEP_START to its first result: reads, verdicts, the plot of a
failure), and the process's peak resident memory during the call (VmHWM, reset just before), next
to its resident memory before the call (imports and definitions).

    python -m benchmarks.prediction_monitoring [--rows 1000000] [--days 7]

Prints one JSON object. It uses only the platform's public entry points, so the same script also
measures an earlier version of the platform (PYTHONPATH pointing at its checkout).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from ml_platform.checks.prediction_monitoring import build_monitoring_checks
from ml_platform.declaration import PARTITIONS_START, Expectations, declared_specs
from ml_platform.decorators import Product, feature_table, prediction_table
from ml_platform.monitoring.settings import Monitoring
from ml_platform.resources.warehouse import warehouse_resources

BUDGET_SECONDS, BUDGET_MIB = 2.0, 512
BENCH = Product("bench", owner="team:bench")


def day_key(day: int) -> str:
    return (pd.Timestamp(PARTITIONS_START) + pd.Timedelta(days=day)).date().isoformat()


def catalog(rows: int, broken_day: int) -> list[dg.AssetsDefinition]:
    def day_of(context: dg.AssetExecutionContext) -> int:
        return (pd.Timestamp(context.partition_key) - pd.Timestamp(PARTITIONS_START)).days

    @feature_table(BENCH, slo="0 6 * * *")
    def bench_users(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return pd.DataFrame({"date": pd.Timestamp(context.partition_key), "user_id": np.arange(int(rows * 1.05), dtype="int64")})

    @prediction_table(
        BENCH, slo="0 8 * * *", deps=["bench_users"],
        expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
        monitoring=Monitoring(expected_entities="bench_users", fallback_column="is_fallback"),
    )
    def bench_scores(context: dg.AssetExecutionContext) -> pd.DataFrame:
        day = day_of(context)
        rng = np.random.default_rng([3, day])
        score = rng.beta(2, 5, rows) if day < broken_day else rng.beta(2, 9, rows)
        return pd.DataFrame(
            {"date": pd.Timestamp(context.partition_key), "user_id": rng.permutation(int(rows * 1.05))[:rows], "score": score, "is_fallback": rng.random(rows) < 0.02}
        )

    return [bench_users, bench_scores]


def instance_home(postgres_url: str, home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(f"telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url: {postgres_url}\n")
    return home


def measure(rows: int, day: int, broken_day: int, home: str) -> dict:
    """In this (fresh) process: materialize the monitoring check of ``day`` and measure it."""
    assets = catalog(rows, broken_day)
    checks = build_monitoring_checks(assets, declared_specs(assets))
    keys = [key for check in checks for key in check.check_keys]
    resources = warehouse_resources("local")
    with dg.DagsterInstance.from_config(home) as instance:
        before = _status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current size
        started, cpu = time.perf_counter(), time.process_time()
        result = dg.materialize(
            [*assets, *checks], selection=dg.AssetSelection.checks(*keys), instance=instance, resources=resources,
            tags={"dagster/partition": day_key(day)},
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = _status("VmHWM")
        assert result.success
        entries = [e for e in instance.all_logs(result.run_id) if e.dagster_event_type]
        logs = {e.dagster_event_type: e.timestamp for e in entries}
        first_result = min(e.timestamp for e in entries if e.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        verdicts = {
            e.event_specific_data.check_name: "pass" if e.event_specific_data.passed else e.event_specific_data.severity.value
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
    return {
        "partition": day_key(day),
        "verdicts": verdicts,
        "materialize_seconds": round(elapsed, 3),
        "materialize_cpu_seconds": round(cpu, 3),  # this process's CPU: less sensitive to a shared machine than the wall time
        "step_seconds": round(logs[dg.DagsterEventType.STEP_SUCCESS] - logs[dg.DagsterEventType.STEP_START], 3),
        "check_compute_seconds": round(first_result - logs[dg.DagsterEventType.STEP_START], 3),  # reads + verdicts (+ plot), before the first result
        "rss_before_mib": round(before / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "peak_above_before_mib": round((peak - before) / 1024, 1),
    }


def _status(field: str) -> int:
    """A /proc/self/status memory figure in KiB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7, help="days of history before the measured partitions")
    parser.add_argument("--measure-day", type=int, default=None, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--home", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    broken_day = args.days + 1
    if args.measure_day is not None:
        print(json.dumps(measure(args.rows, args.measure_day, broken_day, args.home)))
        return

    from tests.fixtures.postgres import postgres_server

    with tempfile.TemporaryDirectory() as tmp, postgres_server("monitoring") as server:
        os.environ["ML_PLATFORM_DUCKDB_PATH"] = str(Path(tmp) / "warehouse.duckdb")
        home = instance_home(server.url, Path(tmp) / "dagster_home")
        assets = catalog(args.rows, broken_day)
        checks = build_monitoring_checks(assets, declared_specs(assets))
        started = time.perf_counter()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            for day in range(args.days + 2):
                selection = dg.AssetSelection.all() if day < args.days else dg.AssetSelection.assets(*assets)  # measured days: the check waits
                result = dg.materialize(
                    [*assets, *checks], selection=selection, partition_key=day_key(day), instance=instance, resources=warehouse_resources("local")
                )
                assert result.success
        setup = time.perf_counter() - started
        measured = []
        for day in (args.days, broken_day):
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.prediction_monitoring", "--rows", str(args.rows), "--days", str(args.days),
                 "--measure-day", str(day), "--home", str(home)],
                capture_output=True, text=True, env={**os.environ}, check=True,
            )
            measured.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(json.dumps({
        "rows_per_partition": args.rows,
        "history_days": args.days,
        "setup_seconds": round(setup, 1),
        "budget": {"seconds": BUDGET_SECONDS, "peak_mib": BUDGET_MIB},
        "healthy_day": measured[0],
        "broken_day": measured[1],
    }, indent=1))


if __name__ == "__main__":
    main()
