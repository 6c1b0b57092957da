"""Growth of the Dagster instance database on PostgreSQL at N daily tables, without and with the
retention settings and the platform's history purge, side by side in one run. Prints JSON.

    python -m benchmarks.instance_growth --tables 300 --days 8

How a day is written. One product of the synthetic catalog (benchmarks/synthetic_catalog.py: 10
tables with the platform's quality and monitoring checks) runs once for real, through the routing
executor with forked local steps, on the benchmark's PostgreSQL instance: its run record and every
event it wrote are the template. A simulated day is N/10 copies of that run (new run ids, the
product renamed, the day's partition and timestamps), stored through the instance as the run
worker stored the original; ``--failure-rate`` of them (2 %) are failed copies (the run cut after
its first check step, which gets a step failure with a traceback, then a run failure). Sensor ticks
are measured separately: the writes ``dagster-daemon`` makes per tick of each alert sensor
(``benchmarks/alert_state_bytes.py``), times the ticks per day at the sensors' intervals.

Two sides, each on a fresh database: ``before`` (no purge; Dagster's default tick retention) and
``after`` (the purge after every day, as the daily ``instance_history_purge`` schedule does, then a
VACUUM as autovacuum would; tick retention of deploy/dagster.yaml). To show the steady state within
a short run the ``after`` side uses scaled windows (``--run-event-days``, ``--asset-event-days``);
the production windows (14 and 90 days) give the steady state computed from the measured bytes per
day of each kind of row. Sizes are ``pg_total_relation_size`` (tables, indexes, TOAST).
"""

import argparse
import json
import os
import random
import sys
import time
import uuid
import warnings
from datetime import datetime, timedelta, timezone

warnings.filterwarnings("ignore")
os.environ.setdefault("ML_PLATFORM_SYNTH_PRODUCTS", "1")

import dagster as dg  # noqa: E402
from dagster._core.events import DagsterEvent, DagsterEventType, StepFailureData  # noqa: E402  benchmark only
from dagster._core.test_utils import freeze_time  # noqa: E402
from dagster._serdes import deserialize_value, serialize_value  # noqa: E402
from dagster._utils.error import SerializableErrorInfo  # noqa: E402

from benchmarks.alert_state_bytes import Daemon  # noqa: E402
from ml_platform.history_purge import Retention, purge_history  # noqa: E402
from tests.fixtures.postgres import postgres_instance  # noqa: E402

TABLES_PER_PRODUCT = 10
PRODUCT = "product_000"
TEMPLATE_DAY = "2026-01-01"
FIRST_DAY = datetime(2026, 2, 1, 21, tzinfo=timezone.utc)  # runs start before a 06:00 Tokyo deadline
# The alert sensors and their intervals (seconds), as the code location declares them.
SENSORS = {"slo_alerts": 30, "data_quality_alerts": 60, "run_failure_alerts": 30, "sensor_health_alerts": 60,
           "cost_jump_alerts": 60, "delayed_label_performance": 60, "cross_product_launch": 30}
TICK_SAMPLE = 100  # ticks written per sensor to measure bytes per tick
PRODUCTION = Retention()


def template_job() -> dg.JobDefinition:
    from benchmarks.synthetic_catalog import platform_defs

    defs = platform_defs()
    partitioned = [key for key in defs.resolve_asset_graph().get_all_asset_keys() if key.to_user_string().startswith(PRODUCT)
                   and defs.resolve_asset_graph().get(key).partitions_def is not None]
    job = dg.define_asset_job("product_day", selection=dg.AssetSelection.assets(*partitioned))
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("product_day")


def record_template(instance: dg.DagsterInstance) -> tuple[str, list[str], list]:
    """One real run of one product-day: its run record and events, serialized, and its snapshots."""
    result = dg.execute_job(dg.reconstructable(template_job), instance=instance, tags={"dagster/partition": TEMPLATE_DAY},
                            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    if not result.success:
        raise SystemExit("the template run failed")
    run = instance.get_run_by_id(result.run_id)
    snapshots = [instance.get_job_snapshot(run.job_snapshot_id), instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)]
    return serialize_value(run), [serialize_value(e) for e in instance.all_logs(result.run_id)], snapshots


def failed_copy(run_json: str, events: list[str]) -> list[str]:
    """The template cut after its first check step, which fails; then the run fails."""
    entries = [deserialize_value(e, dg.EventLogEntry) for e in events]
    step = next(e.step_key for e in entries if e.step_key and "checks" in e.step_key)
    cut = next(i for i, e in enumerate(entries) if e.step_key == step and e.dagster_event_type == DagsterEventType.STEP_SUCCESS)
    failure_template = entries[cut]
    trace = [f'  File "/app/ml_platform/checks/quality_checks.py", line {n}, in _quality\n' for n in range(40)]
    error = SerializableErrorInfo("ValueError: warehouse read timed out after 300 s\n", trace, "ValueError")
    step_failure = DagsterEvent(
        event_type_value=DagsterEventType.STEP_FAILURE.value, job_name=failure_template.job_name, step_key=step,
        message=f'Execution of step "{step}" failed.', event_specific_data=StepFailureData(error=error, user_failure_data=None),
    )
    run_failure = DagsterEvent(event_type_value=DagsterEventType.RUN_FAILURE.value, job_name=failure_template.job_name,
                               message=f"Execution of run failed. Steps failed: ['{step}'].")
    kept = entries[:cut]
    last = kept[-1].timestamp
    extra = [dg.EventLogEntry(error_info=None, level=40, user_message="", run_id=kept[0].run_id, timestamp=last + 0.1,
                              step_key=e.step_key, job_name=e.job_name, dagster_event=e) for e in (step_failure, run_failure)]
    return [serialize_value(e) for e in kept + extra]


def store_run(instance: dg.DagsterInstance, run_json: str, events: list[str], product: int, day: str, start: float) -> None:
    run_id = str(uuid.uuid4())
    template_id = json.loads(run_json)["run_id"]

    def renamed(text: str) -> str:
        return text.replace(template_id, run_id).replace(PRODUCT, f"product_{product:03d}").replace(TEMPLATE_DAY, day)

    instance.add_run(deserialize_value(renamed(run_json), dg.DagsterRun))
    first = None
    for text in events:
        entry = json.loads(renamed(text))
        first = first if first is not None else entry["timestamp"]
        entry["timestamp"] = start + (entry["timestamp"] - first)
        with freeze_time(datetime.fromtimestamp(entry["timestamp"], timezone.utc)):
            instance.handle_new_event(deserialize_value(json.dumps(entry), dg.EventLogEntry))


def sizes(instance: dg.DagsterInstance) -> dict[str, int]:
    with instance.event_log_storage.index_connection() as conn:
        rows = conn.exec_driver_sql(
            "select relname, pg_total_relation_size(c.oid) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind = 'r'"
        ).fetchall()
    return {name: size for name, size in rows}


def bytes_by_kind(instance: dg.DagsterInstance) -> dict[str, int]:
    """Stored event bytes by what the purge does with them: run events (deleted after run_event_days),
    asset events (after asset_event_days), failure events (with their run)."""
    kept = {"ASSET_MATERIALIZATION", "ASSET_OBSERVATION", "ASSET_CHECK_EVALUATION"}
    with instance.event_log_storage.index_connection() as conn:
        rows = conn.exec_driver_sql("select dagster_event_type, sum(pg_column_size(event)) from event_logs group by 1").fetchall()
    kinds = {"run events": 0, "asset events": 0, "failure events": 0}
    for event_type, size in rows:
        kind = "asset events" if event_type in kept else "failure events" if event_type in ("STEP_FAILURE", "RUN_FAILURE") else "run events"
        kinds[kind] += int(size)
    return kinds


def vacuum(server) -> None:
    import psycopg2

    conn = psycopg2.connect(server.url.replace("postgresql+psycopg2", "postgresql"))
    try:
        conn.autocommit = True  # VACUUM runs outside a transaction
        conn.cursor().execute("VACUUM ANALYZE")
    finally:
        conn.close()


def simulate(side: str, args, template: tuple, retention: Retention) -> dict:
    run_json, events, failed, (job_snapshot, plan_snapshot) = template
    rng = random.Random(0)
    products = args.tables // TABLES_PER_PRODUCT
    with postgres_instance(f"growth_{side}") as (server, instance):
        instance.run_storage.add_job_snapshot(job_snapshot)
        instance.run_storage.add_execution_plan_snapshot(plan_snapshot)
        per_day = []
        for d in range(args.days):
            day_start = FIRST_DAY + timedelta(days=d)
            day = (day_start + timedelta(hours=12)).date().isoformat()
            for p in range(products):
                copy = failed if rng.random() < args.failure_rate else events
                store_run(instance, run_json, copy, p, day, (day_start + timedelta(seconds=20 * p)).timestamp())
            if side == "after":
                purge_history(instance, retention, now=day_start + timedelta(days=1), check_windows=False)
                vacuum(server)
            per_day.append(sizes(instance))
            print(json.dumps({"side": side, "day": d, "mb": round(sum(per_day[-1].values()) / 2**20, 2)}), file=sys.stderr, flush=True)
        kinds = bytes_by_kind(instance) if side == "before" else None
    return {"bytes_per_day_by_kind": {k: round(v / args.days) for k, v in kinds.items()} if kinds else None, "daily_total_mb": [round(sum(s.values()) / 2**20, 2) for s in per_day], "last_day_by_table_kb": {
        k: round(v / 1024) for k, v in sorted(per_day[-1].items(), key=lambda kv: -kv[1]) if v > 64 * 1024}}


def tick_bytes(instance: dg.DagsterInstance) -> dict[str, float]:
    """Bytes a tick of each alert sensor leaves in the database (steady, skipped ticks)."""
    before = sizes(instance)
    now = time.time()
    for name in SENSORS:
        daemon = Daemon(instance, name)
        for i in range(TICK_SAMPLE):
            daemon.tick('{"ledger": "kv", "after": 123456}', "alerts 0 raised, 0 resolved, backlog 0", now + i)
    grown = sum(sizes(instance).values()) - sum(before.values())
    per_tick = grown / (TICK_SAMPLE * len(SENSORS))
    ticks_per_day = sum(86400 / interval for interval in SENSORS.values())
    return {"bytes_per_tick": round(per_tick), "ticks_per_day": round(ticks_per_day), "mb_per_day": round(per_tick * ticks_per_day / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--failure-rate", type=float, default=0.02)
    parser.add_argument("--run-event-days", type=int, default=2, help="scaled window of the after side (production: 14)")
    parser.add_argument("--asset-event-days", type=int, default=4, help="scaled window of the after side (production: 90)")
    parser.add_argument("--latest-per-asset", type=int, default=2, help="scaled newest materializations kept per asset (production: 30)")
    parser.add_argument("--sides", nargs="+", choices=("before", "after"), default=["before", "after"])
    parser.add_argument("--no-ticks", action="store_true", help="skip the sensor-tick measurement")
    args = parser.parse_args()
    started = time.perf_counter()
    with postgres_instance("growth_template") as (_, instance):
        run_json, events, snapshots = record_template(instance)
        print(json.dumps({"template_events": len(events), "seconds": round(time.perf_counter() - started)}), file=sys.stderr, flush=True)
        ticks = None if args.no_ticks else tick_bytes(instance)
        print(json.dumps({"ticks": ticks, "seconds": round(time.perf_counter() - started)}), file=sys.stderr, flush=True)
    template = (run_json, events, failed_copy(run_json, events), snapshots)
    scaled = Retention(run_event_days=args.run_event_days, asset_event_days=args.asset_event_days, latest_per_asset=args.latest_per_asset)
    sides = {side: simulate(side, args, template, scaled) for side in args.sides}
    before, after = (sides[s]["daily_total_mb"] if s in sides else [0.0] for s in ("before", "after"))
    growth = round((before[-1] - before[0]) / max(1, args.days - 1), 2)
    print(json.dumps({
        "benchmark": "instance_growth",
        "command": f"python -m benchmarks.instance_growth --tables {args.tables} --days {args.days}",
        "tables": args.tables, "days": args.days, "failure_rate": args.failure_rate,
        "events_per_product_run": len(events),
        "sides": sides,
        "before_mb_per_day": growth,
        "after_mb_per_day_last_days": round((after[-1] - after[-3]) / 2, 2) if len(after) >= 3 else None,
        "sensor_ticks": ticks,
        "scaled_windows": {"run_event_days": args.run_event_days, "asset_event_days": args.asset_event_days, "latest_per_asset": args.latest_per_asset},
        "seconds": round(time.perf_counter() - started),
        "load_average": os.getloadavg(),
    }, indent=2))


if __name__ == "__main__":
    main()
