"""Storage calls of the prediction_health report over many tables x days (issue 17: a fixed number).

A private PostgreSQL cluster (``tests/fixtures/postgres.py``) holds the Dagster instance. For each
of ``--tables`` monitored prediction tables and ``--days`` daily partitions it gets the events the
platform writes: a ``prediction_drift`` and a ``prediction_coverage`` evaluation and a delayed-label
performance observation (plus, with ``--quality``, the seven quality-check evaluations the report
must skip). Each day is written in bulk: one multi-row insert of the rows ``store_event`` would
write (Dagster's own serializer, ``_event_to_row``). Then the report is built and every call it
makes on the instance's storages is counted (``CallCounter`` of benchmarks/slo_sensor_tick.py), as
is every SQL statement (``Statements`` of benchmarks/real_history.py). Sizes run one after the
other, each on a fresh cluster: the counts must not grow.

    python -m benchmarks.prediction_health_reads --tables 100 1000 --days 30

Prints one JSON object per size.
"""

import argparse
import json
import time
import warnings
from datetime import date, timedelta

warnings.filterwarnings("ignore")

import dagster as dg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from dagster._core.events import AssetObservationData  # noqa: E402  benchmark only: the observation event's payload
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable  # noqa: E402  benchmark only: bulk seed

from benchmarks.slo_sensor_tick import CallCounter  # noqa: E402
from ml_platform.checks.sanity import table_check_names  # noqa: E402
from ml_platform.declaration import SLO, Expectations, PredictionTable  # noqa: E402
from ml_platform.monitoring.assess import COVERAGE_CHECK, DRIFT_CHECK  # noqa: E402
from ml_platform.monitoring.health import declared_health, render_text  # noqa: E402
from ml_platform.monitoring.performance_alerts import METRIC_KEY  # noqa: E402
from ml_platform.monitoring.settings import Monitoring  # noqa: E402
from tests.fixtures.postgres import postgres_instance  # noqa: E402

JOB = "__ASSET_JOB"


class Statements:
    """Every SQL statement sent through SQLAlchemy in this process (as benchmarks/real_history.py counts them)."""

    def __init__(self):
        self.seen: list[str] = []
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(statement)

    def take(self) -> list[str]:
        taken, self.seen = self.seen, []
        return taken


def _entry(run_id: str, at: float, event_type: dg.DagsterEventType, data, step_key: str) -> dg.EventLogEntry:
    event = dg.DagsterEvent(event_type.value, JOB, step_key=step_key, event_specific_data=data)
    return dg.EventLogEntry(error_info=None, level=20, user_message="", run_id=run_id, timestamp=at, step_key=step_key, job_name=JOB, dagster_event=event)


EXPECTATIONS = Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0))


def tables(count: int) -> dict[dg.AssetKey, PredictionTable]:
    return {
        dg.AssetKey(f"scores_{i:04d}"): PredictionTable(
            name=f"scores_{i:04d}", product=f"p{i % 50}", owner="team:bench", slo=SLO("0 8 * * *"), compute="small",
            expectations=EXPECTATIONS, monitoring=Monitoring(label_table="labels"),
        )
        for i in range(count)
    }


def day_entries(keys: list[dg.AssetKey], day: int, days: int, quality: bool) -> list[dg.EventLogEntry]:
    partition = (date(2026, 1, 1) + timedelta(days=day)).isoformat()
    at = time.time() - (days - day) * 86400 + 3600
    run_id = f"run-{partition}"
    entries = []
    for i, key in enumerate(keys):
        step = f"{key.path[-1]}_prediction_monitoring"
        psi = 0.02 + 0.001 * ((i + day) % 7)
        checks = [
            dg.AssetCheckEvaluation(asset_key=key, check_name=DRIFT_CHECK, passed=True, metadata={"psi": psi, "partition": partition}, partition=partition),
            dg.AssetCheckEvaluation(
                asset_key=key, check_name=COVERAGE_CHECK, passed=True,
                metadata={"covered_share": 0.99, "fallback_share": 0.02, "partition": partition}, partition=partition,
            ),
        ]
        if quality:
            names = ["row_count_change", "row_count_decline", "column_schema_change", *table_check_names(EXPECTATIONS)]
            checks += [dg.AssetCheckEvaluation(asset_key=key, check_name=n, passed=True, metadata={"partition": partition}, partition=partition) for n in names]
        entries += [_entry(run_id, at, dg.DagsterEventType.ASSET_CHECK_EVALUATION, c, step) for c in checks]
        observation = dg.AssetObservation(asset_key=key, partition=partition, metadata={METRIC_KEY: 0.75 - 0.001 * day})
        entries.append(_entry(f"labels-{partition}", at + 3 * 86400, dg.DagsterEventType.ASSET_OBSERVATION, AssetObservationData(observation), "sensor"))
    return entries


def seed(instance: dg.DagsterInstance, keys: list[dg.AssetKey], days: int, quality: bool) -> tuple[float, int]:
    started, storage, written = time.perf_counter(), instance.event_log_storage, 0
    for day in range(days):
        entries = day_entries(keys, day, days, quality)
        rows = [storage._event_to_row(e) for e in entries]  # noqa: SLF001 - the row store_event writes
        with storage.index_connection() as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        written += len(rows)
    return time.perf_counter() - started, written


def measure(count: int, days: int, quality: bool) -> dict:
    with postgres_instance("health") as (_server, instance):
        declared = tables(count)
        seed_seconds, events = seed(instance, list(declared), days, quality)
        statements, calls = Statements(), CallCounter(instance)
        statements.take(), calls.take()
        start = time.perf_counter()
        report = declared_health(instance, declared, days=days + 5)
        seconds = time.perf_counter() - start
        sql = statements.take()
        assert len(report.tables) == count and all(len(t.psi) == days and len(t.performance) == days for t in report.tables)
        render_text(report)
        counted = calls.take()
        return {
            "tables": count,
            "days": days,
            "events": events,
            "storage_calls": sum(counted.values()),
            "calls_by_method": counted,
            "sql_statements": len([s for s in sql if not s.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]),
            "report_seconds": round(seconds, 2),
            "seed_seconds": round(seed_seconds, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--quality", action="store_true", help="also write the seven quality-check evaluations per table and day")
    args = parser.parse_args()
    for count in args.tables:
        print(json.dumps(measure(count, args.days, args.quality)), flush=True)


if __name__ == "__main__":
    main()
