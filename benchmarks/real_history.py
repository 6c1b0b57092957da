"""The SLO and data-quality sensor ticks on PostgreSQL with months of history. Prints JSON.

    python -m benchmarks.real_history --tables 1000 --days 90

A private PostgreSQL cluster (``tests/fixtures/postgres.py``) holds the Dagster instance. N daily
prediction tables (four deadlines, seven quality checks each, as declared with the real API) get
DAYS days of history: per table and day one materialization and its seven check evaluations, in
one run per product and day, in time order; a few checks fail now and then and pass the next
day; 5 % of today's partitions are missing, every 10th table fails ``row_count_change`` today and
every 25th ``score_range``. Each day is written in bulk: one multi-row insert into Dagster's event
log and one into its check-execution table, with the rows ``store_event`` would write (Dagster's
serializer, see ``Rows``), then each table's asset record through the storage's
``store_asset_event``. (Event by event, through ``store_event``, a day takes minutes here.) Only
the oldest day and the last ``GENERATED`` days are made in Python; the days between are copies of
the oldest day made inside PostgreSQL (``copy_day``), older than anything the sensors read, and
without check-execution rows (the sensors read the event log). Then each sensor ticks three times with
its cursor carried: ``cold`` (empty cursor), ``steady`` (nothing new) and ``after_updates`` (50
late partitions landed / 50 tables' checks pass again).

Counted per tick: SQL statements sent to PostgreSQL (SQLAlchemy ``before_cursor_execute`` on every
engine) and the storage calls. The slowest statement of each sensor's cold and steady tick is
run again under ``EXPLAIN (ANALYZE, BUFFERS)``; its plan is printed.
"""

import argparse
import json
import time
import warnings
from datetime import datetime, timedelta, timezone

warnings.filterwarnings("ignore")

import dagster as dg  # noqa: E402
import psycopg2  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange  # noqa: E402  benchmark only: seed daemon states
from dagster._core.events import StepMaterializationData  # noqa: E402  benchmark only: the materialization event's payload
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable  # noqa: E402  benchmark only: bulk seed
from freezegun import freeze_time  # noqa: E402

from benchmarks.quality_checks import as_asset, declare  # noqa: E402
from benchmarks.slo_sensor_tick import DEADLINES, NOW, STEP_METRICS, CallCounter, QuietSink, _frozen  # noqa: E402
from ml_platform import instance_reads  # noqa: E402
from ml_platform.checks.alerts import data_quality_alerts  # noqa: E402
from ml_platform.checks.quality_checks import build_quality_checks, check_names  # noqa: E402
from ml_platform.declaration import SLO, declared_specs  # noqa: E402
from ml_platform.slo.alerts import evaluate_slo_tick  # noqa: E402
from tests.fixtures.postgres import postgres_instance  # noqa: E402

JOB = "__ASSET_JOB"
LANDED_AT = timedelta(hours=4)  # each day's partition lands at 05:00 (NOW is 09:00)
MISSING_EVERY, ROW_DROP_EVERY, OUT_OF_RANGE_EVERY = 20, 10, 25
GENERATED = 10  # the last days are made event by event in Python; older ones are copies (copy_day)
GOALS = {"quality_steady_s": 0.3, "quality_cold_s": 1.5, "slo_tick_s": 2.0}


class Statements:
    """Every SQL statement sent through SQLAlchemy in this process, with its duration."""

    def __init__(self):
        self.seen: list[tuple[float, str, object]] = []
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._before)
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append((time.perf_counter() - conn.info.pop("started"), statement, parameters))

    def take(self) -> list[tuple[float, str, object]]:
        taken, self.seen = self.seen, []
        return taken


def catalog(n: int) -> list:
    """The quality benchmark's prediction tables, spread over the SLO benchmark's four deadlines."""
    from dataclasses import replace

    return [replace(d, slo=SLO(DEADLINES[i % len(DEADLINES)], timezone="Asia/Tokyo")) for i, d in enumerate(declare(n))]


def day_events(declarations, day: datetime, today: bool) -> list[dg.EventLogEntry]:
    """One day's materializations and check evaluations, in time order, one run per product."""
    partition = day.strftime("%Y-%m-%d")
    events, start = [], (day - LANDED_AT).timestamp()
    index = day.toordinal()
    for i, declaration in enumerate(declarations):
        if today and i % MISSING_EVERY == 0:
            continue
        key, run_id = dg.AssetKey(declaration.name), f"{declaration.product}-{partition}"
        at = start + i * 0.5
        materialization = dg.AssetMaterialization(key, partition=partition, metadata=STEP_METRICS)
        events.append(_entry(run_id, at, dg.DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(materialization), declaration.name))
        for c, check in enumerate(check_names(declaration.expectations)):
            if today:
                passed = not ((check == "row_count_change" and i % ROW_DROP_EVERY == 0) or (check == "score_range" and i % OUT_OF_RANGE_EVERY == 0))
            else:
                passed = (i * 7 + index + c) % 53 != 0  # an occasional failure, passing again the next day
            evaluation = dg.AssetCheckEvaluation(
                asset_key=key, check_name=check, passed=passed, metadata={"partition": partition},
                severity=dg.AssetCheckSeverity.ERROR, description="ok" if passed else "out of bounds",
            )
            events.append(_entry(run_id, at + 0.1, dg.DagsterEventType.ASSET_CHECK_EVALUATION, evaluation, f"{declaration.name}_quality_checks"))
    return events


def _entry(run_id: str, at: float, event_type: dg.DagsterEventType, data, step_key: str) -> dg.EventLogEntry:
    event = dg.DagsterEvent(event_type.value, JOB, step_key=step_key, event_specific_data=data)
    return dg.EventLogEntry(error_info=None, level=20, user_message="", run_id=run_id, timestamp=at, step_key=step_key, job_name=JOB, dagster_event=event)


class Rows:
    """Event-log rows as ``store_event`` writes them (Dagster's own serializer), made fast: each
    distinct event shape is serialized once, with placeholders for the asset, partition, run and
    time, which are then filled in by text replacement (the names need no JSON escaping)."""

    def __init__(self, storage):
        self.storage, self.templates = storage, {}

    def row(self, entry: dg.EventLogEntry) -> dict:
        event = entry.dagster_event
        data = event.event_specific_data
        check = (data.check_name, data.passed) if isinstance(data, dg.AssetCheckEvaluation) else None
        if check not in self.templates:
            self.templates[check] = self.storage._event_to_row(_placeholders(entry))  # noqa: SLF001 - the row store_event writes
        template = self.templates[check]
        key = event.asset_key or data.asset_key
        text = (
            template["event"].replace(KEY, key.path[-1]).replace(PARTITION, _partition(entry)).replace(RUN, entry.run_id)
            .replace(STEP, entry.step_key).replace(repr(AT), repr(entry.timestamp))
        )
        return {
            **template,
            "event": text,
            "run_id": entry.run_id,
            "step_key": entry.step_key,
            "timestamp": datetime.fromtimestamp(entry.timestamp, timezone.utc).replace(tzinfo=None),
            "asset_key": key.to_string() if event.asset_key else None,
            "partition": event.partition,
        }


KEY, PARTITION, RUN, STEP, AT = "__asset__", "__partition__", "__run__", "__step__", 1234567890.25


def _partition(entry: dg.EventLogEntry) -> str:
    data = entry.dagster_event.event_specific_data
    return data.metadata["partition"].value if isinstance(data, dg.AssetCheckEvaluation) else entry.dagster_event.partition


def _placeholders(entry: dg.EventLogEntry) -> dg.EventLogEntry:
    data = entry.dagster_event.event_specific_data
    if isinstance(data, dg.AssetCheckEvaluation):
        data = dg.AssetCheckEvaluation(asset_key=dg.AssetKey(KEY), check_name=data.check_name, passed=data.passed,
                                       metadata={"partition": PARTITION}, severity=data.severity, description=data.description)
        event_type = dg.DagsterEventType.ASSET_CHECK_EVALUATION
    else:
        data = StepMaterializationData(dg.AssetMaterialization(KEY, partition=PARTITION, metadata=STEP_METRICS))
        event_type = dg.DagsterEventType.ASSET_MATERIALIZATION
    return _entry(RUN, AT, event_type, data, STEP)


def bulk_write(storage, rows: Rows, events: list[dg.EventLogEntry]) -> dict[dg.AssetKey, tuple[dg.EventLogEntry, int]]:
    """Insert one day's events as one multi-row insert each into the event log and the check
    executions; returns each asset's materialization and its storage id."""
    made = [rows.row(e) for e in events]
    with storage.index_connection() as conn:
        result = conn.execute(SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True), made)
        ids = [row[0] for row in result]
        executions, landed = [], {}
        for entry, row, event_id in zip(events, made, ids, strict=True):
            data = entry.dagster_event.event_specific_data
            if isinstance(data, dg.AssetCheckEvaluation):
                executions.append({
                    "asset_key": data.asset_key.to_string(), "check_name": data.check_name, "partition": None, "run_id": entry.run_id,
                    "execution_status": "SUCCEEDED" if data.passed else "FAILED", "evaluation_event": row["event"],
                    "evaluation_event_timestamp": row["timestamp"], "evaluation_event_storage_id": event_id,
                })
            else:
                landed[entry.dagster_event.asset_key] = (entry, event_id)
        conn.execute(AssetCheckExecutionsTable.insert(), executions)
    return landed


def copy_day(storage, template: datetime, day: datetime) -> None:
    """Copy the oldest day's event-log rows to ``day`` inside PostgreSQL: partition, run ids and
    times shifted (in the serialized events too). Python would take minutes per day on this
    loaded machine; the copies are older than every window the sensors read."""
    shift = (day - template).days
    first, last = template.strftime("%Y-%m-%d"), day.strftime("%Y-%m-%d")
    with storage.index_connection() as conn:
        conn.execute(sa.text(  # the text Python's repr gives a float (an integral one keeps its ".0")
            "create or replace function float_text(x float8) returns text language sql immutable as"
            " $$ select case when x = floor(x) then x::bigint::text || '.0' else x::text end $$"
        ))
        low, high = conn.execute(
            sa.text("select min(id), max(id) from event_logs where partition = :p or (dagster_event_type = 'ASSET_CHECK_EVALUATION' and run_id like :r)"),
            {"p": first, "r": f"%-{first}"},
        ).one()
        conn.execute(
            sa.text(
                """insert into event_logs (run_id, event, dagster_event_type, timestamp, step_key, asset_key, partition)
                select replace(run_id, :first, :last),
                       regexp_replace(replace(event, :first, :last), '"timestamp": [0-9.]+',
                                      '"timestamp": ' || float_text(extract(epoch from timestamp)::float8 + 86400 * :shift)),
                       dagster_event_type, timestamp + make_interval(days => :shift), step_key, asset_key, replace(partition, :first, :last)
                from event_logs where id between :low and :high order by id"""
            ),
            {"first": first, "last": last, "shift": shift, "low": low, "high": high},
        )


def seed(instance: dg.DagsterInstance, declarations, days: int) -> dict:
    started = time.perf_counter()
    storage = instance.event_log_storage
    landed, rows = {}, Rows(storage)
    for back in range(days - 1, -1, -1):
        day = NOW - timedelta(days=back)
        if GENERATED <= back < days - 1:
            copy_day(storage, NOW - timedelta(days=days - 1), day)
        else:
            landed.update(bulk_write(storage, rows, day_events(declarations, day, today=back == 0)))
    for entry, event_id in landed.values():  # what store_event keeps per asset: its latest materialization
        storage.store_asset_event(entry, event_id)
    with _frozen(NOW - timedelta(minutes=5)):
        for i, declaration in enumerate(declarations):
            instance._report_runless_asset_event(  # noqa: SLF001 - what the freshness daemon writes
                FreshnessStateChange(
                    key=dg.AssetKey(declaration.name),
                    previous_state=FreshnessState.UNKNOWN,
                    new_state=FreshnessState.FAIL if i % MISSING_EVERY == 0 else FreshnessState.PASS,
                    state_change_timestamp=time.time(),
                )
            )
    with storage.index_connection() as conn:
        conn.execute(sa.text("ANALYZE"))  # as autovacuum would have, after months of writes
        counts = dict(conn.execute(sa.text("select dagster_event_type, count(*) from event_logs group by 1")).fetchall())
        size = conn.execute(sa.text("select pg_size_pretty(pg_database_size(current_database()))")).scalar()
    return {"seconds": round(time.perf_counter() - started, 1), "event_log_rows": counts, "database_size": size}


def measured(statements: Statements, calls: CallCounter, run) -> tuple[object, dict, list]:
    statements.take(), calls.take()
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    seen = statements.take()
    by_method = calls.take()
    return result, {"seconds": round(seconds, 3), "sql_statements": len(seen), "storage_calls": sum(by_method.values()), "by_method": by_method,
                    "slowest_statement_ms": round(1000 * max((s[0] for s in seen), default=0), 1)}, seen


def explain(server, seen: list) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest statement, with its parameters."""
    reads = [s for s in seen if s[1].lstrip().upper().startswith("SELECT")]  # EXPLAIN ANALYZE runs the statement
    if not reads:
        return {}
    seconds, statement, parameters = max(reads, key=lambda s: s[0])
    conn = psycopg2.connect(host=server.host, port=server.port, user=server.username, dbname=server.db_name)
    try:
        with conn.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()
    return {"ms": round(1000 * seconds, 1), "statement": " ".join(statement.split())[:400], "plan": plan}


def slo_ticks(instance, graph, declarations, statements, calls, server) -> dict:
    out, cursor, sink = {}, None, QuietSink()
    for tick, when in (("cold", NOW), ("steady", NOW + timedelta(seconds=30)), ("after_updates", NOW + timedelta(seconds=60))):
        if tick == "after_updates":
            with _frozen(NOW + timedelta(seconds=45)):
                for declaration in declarations[::MISSING_EVERY][:50]:
                    instance.report_runless_asset_event(dg.AssetMaterialization(declaration.name, partition=NOW.strftime("%Y-%m-%d")))
        result, out[tick], seen = measured(statements, calls, lambda cursor=cursor, when=when: evaluate_slo_tick(instance, graph, cursor, sink, when))
        out[tick]["raised" if tick != "after_updates" else "resolved"] = len(result.raised if tick != "after_updates" else result.resolved)
        if tick != "after_updates":
            out[tick]["slowest"] = explain(server, seen)
        cursor = result.cursor
    return out


def quality_ticks(instance, defs, declarations, statements, calls, server) -> dict:
    out, cursor = {}, None
    failing = [d for i, d in enumerate(declarations) if i % MISSING_EVERY and (i % ROW_DROP_EVERY == 0 or i % OUT_OF_RANGE_EVERY == 0)]
    with freeze_time(NOW + timedelta(minutes=1), tick=True):  # the sensor reads the clock
        for tick in ("cold", "steady", "after_fixes"):
            if tick == "after_fixes":
                for declaration in failing[:50]:  # re-run: every check passes again
                    for check in check_names(declaration.expectations):
                        instance.report_dagster_event(
                            dg.DagsterEvent(dg.DagsterEventType.ASSET_CHECK_EVALUATION.value, JOB, event_specific_data=dg.AssetCheckEvaluation(
                                asset_key=dg.AssetKey(declaration.name), check_name=check, passed=True, metadata={"partition": NOW.strftime("%Y-%m-%d")})),
                            run_id=f"{declaration.product}-rerun",
                        )
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources={"alert_sink": QuietSink()})
            result, out[tick], seen = measured(statements, calls, lambda context=context: data_quality_alerts.evaluate_tick(context))
            out[tick]["skip_reason"] = result.skip_message
            out[tick]["cursor_kib"] = round(len(result.cursor or "") / 1024, 1)
            if tick != "after_fixes":
                out[tick]["slowest"] = explain(server, seen)
            cursor = result.cursor
    return out


def first_reads(instance, statements, calls, server) -> dict:
    """A first tick's read of the last day's check evaluations: filtered on time in SQL (the event
    log has no index on time) versus the backward walk of the (event type, id) index."""
    after = (NOW - timedelta(days=1)).timestamp()
    by_time = lambda: instance.event_log_storage.get_event_records(  # noqa: E731
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_timestamp=after), limit=instance_reads.PAGE, ascending=True
    )
    walk = lambda: instance_reads.check_evaluations_since(instance, {}, after, NOW.timestamp())  # noqa: E731
    out = {}
    for label, read in (("time_filter", by_time), ("index_walk", walk), ("time_filter_again", by_time), ("index_walk_again", walk)):
        result, out[label], seen = measured(statements, calls, read)
        out[label]["records"] = len(result if label.startswith("time") else result[0])
        if not label.endswith("again"):
            out[label]["slowest"] = explain(server, seen)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    declarations = catalog(args.tables)
    assets = [as_asset(d) for d in declarations]
    defs = dg.Definitions(assets=assets, asset_checks=build_quality_checks(declared_specs(assets)), sensors=[data_quality_alerts], resources={"alert_sink": QuietSink()})
    graph = defs.resolve_asset_graph()
    out: dict = {"benchmark": "real_history", "tables": args.tables, "days": args.days, "check_keys": len(graph.asset_check_keys), "goals": GOALS}
    with postgres_instance("history") as (server, instance):
        out["seed"] = seed(instance, declarations, args.days)
        statements, calls = Statements(), CallCounter(instance)
        out["slo_alerts"] = slo_ticks(instance, graph, declarations, statements, calls, server)
        out["first_read_of_a_day_of_checks"] = first_reads(instance, statements, calls, server)
        out["data_quality_alerts"] = quality_ticks(instance, defs, declarations, statements, calls, server)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
