"""Keeps the Dagster instance database bounded: old run history past the windows the platform reads.

Dagster OSS 1.13 purges schedule and sensor ticks (``retention:`` in dagster.yaml) but nothing of
the event log (dagster#33785); its only public deletion is ``instance.delete_run``, which drops a
run with all its events, materializations included. Every run leaves step, log, engine and
planning events (most of the bytes), and every table materializations and check evaluations.

What the platform reads, and so what a purge keeps:

- materializations (SLO report and sensor, data-quality history, memory peaks, cost, labels),
  check evaluations (data-quality sensor, upstream gate, prediction-health report) and
  observations (delayed-label performance) of the last ``asset_event_days`` (default 90: longer
  than every window read by time — 45 days of memory peaks, 30-day reports, 7-day cost — and
  than the partitions a row-count history reads back), and each asset's newest
  ``latest_per_asset`` materializations whatever their age (rightsizing reads the last 30; the
  SLO sensor and a model's freshness read the newest);
- step-failure and run-failure events until their run is deleted (the cause of a late table);
- the runs that an asset's record or a kept materialization names.

Everything else goes: the step, log, engine and planning events of runs that ended more than
``run_event_days`` ago (default 14: the debugging window of the run pages), then, past
``asset_event_days``, the asset events and the runs nothing names any more. The partition status
the UI shows is Dagster's cached summary and stays. A purge is incremental (it remembers how far
it trimmed runs) and runs daily as the ``instance_history_purge`` schedule.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg

from ml_platform import instance_reads
from ml_platform._dagster_internal import event_log_tables, is_run_sharded_sqlite

# Run-scoped events kept with the asset events: what the platform and the UI's asset pages read.
KEPT_EVENT_TYPES = (
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_OBSERVATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.RUN_FAILURE,
)
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
TRIMMED_THROUGH_KEY = "ml_platform/history_purge/runs_trimmed_through"
PAGE = 500
# The longest window the platform reads by time (days; compute.step_sizing's lookback of memory peaks).
LONGEST_READ_DAYS = 45


class Retention(dg.Config):
    """How much history the instance keeps (the purge job's config; defaults for production)."""

    run_event_days: int = 14
    asset_event_days: int = 90
    latest_per_asset: int = 30

    def problems(self) -> list[str]:
        found = []
        if self.run_event_days < 1:
            found.append(f"run_event_days must be at least 1, got {self.run_event_days}")
        if self.asset_event_days < max(LONGEST_READ_DAYS, self.run_event_days):
            found.append(
                f"asset_event_days must cover the longest window the platform reads ({LONGEST_READ_DAYS} days) and "
                f"run_event_days, got {self.asset_event_days}"
            )
        if self.latest_per_asset < 1:
            found.append(f"latest_per_asset must be at least 1, got {self.latest_per_asset}")
        return found


@dataclass(frozen=True)
class PurgeReport:
    runs_trimmed: int
    run_events_deleted: int
    asset_events_deleted: int
    check_executions_deleted: int
    runs_deleted: int


def purge_history(instance: dg.DagsterInstance, retention: Retention, now: datetime | None = None, check_windows: bool = True) -> PurgeReport:
    """Deletes what the platform no longer reads (module docstring); safe to run at any time, repeatedly.
    ``check_windows=False`` accepts windows shorter than the platform reads (benchmarks of the steady state)."""
    problems = retention.problems() if check_windows else []
    if problems:
        raise ValueError("instance history purge: " + "; ".join(problems))
    now = now or datetime.now(timezone.utc)
    storage = instance.event_log_storage
    if not hasattr(storage, "index_connection"):
        raise ValueError(f"instance history purge: {type(storage).__name__} is not a SQL event log (PostgreSQL or SQLite)")
    trimmed, run_events = _trim_runs(instance, now - timedelta(days=retention.run_event_days))
    asset_events, executions = _delete_old_asset_events(storage, now - timedelta(days=retention.asset_event_days), retention.latest_per_asset)
    deleted = _delete_unnamed_runs(instance, now - timedelta(days=retention.asset_event_days))
    return PurgeReport(trimmed, run_events, asset_events, executions, deleted)


def _finished_runs(instance: dg.DagsterInstance, after: datetime | None, before: datetime) -> list[str]:
    """Ids of runs that finished (last updated) in (after, before], in pages."""
    run_ids, cursor = [], None
    while True:
        page = instance.get_run_records(
            dg.RunsFilter(statuses=FINISHED, updated_after=after, updated_before=before), limit=PAGE, cursor=cursor
        )
        run_ids += [record.dagster_run.run_id for record in page]
        if len(page) < PAGE:
            return run_ids
        cursor = page[-1].dagster_run.run_id


def _trim_runs(instance: dg.DagsterInstance, cutoff: datetime) -> tuple[int, int]:
    """Deletes the step, log, engine and planning events of runs that finished since the last purge and before ``cutoff``."""
    events, _, _ = event_log_tables()
    stored = instance_reads.stored_value(instance, TRIMMED_THROUGH_KEY)
    after = datetime.fromtimestamp(float(stored), timezone.utc) if stored else None
    run_ids = _finished_runs(instance, after, cutoff)
    kept = [t.value for t in KEPT_EVENT_TYPES]
    deleted = 0
    storage = instance.event_log_storage
    for start in range(0, len(run_ids), PAGE):
        batch = run_ids[start : start + PAGE]
        condition = events.c.run_id.in_(batch) & (events.c.dagster_event_type.is_(None) | events.c.dagster_event_type.not_in(kept))
        if is_run_sharded_sqlite(storage):  # the local default: each run's events live in its own file
            for run_id in batch:
                with storage.run_connection(run_id) as conn:
                    deleted += conn.execute(events.delete().where(condition)).rowcount
        else:
            with storage.index_connection() as conn:
                deleted += conn.execute(events.delete().where(condition)).rowcount
    instance_reads.store_value(instance, TRIMMED_THROUGH_KEY, str(cutoff.timestamp()))
    return len(run_ids), deleted


def _delete_old_asset_events(storage, cutoff: datetime, latest_per_asset: int) -> tuple[int, int]:
    """Asset events older than ``cutoff``, except each asset's newest ``latest_per_asset`` materializations
    and attempt records."""
    import sqlalchemy as db

    events, tags, executions = event_log_tables()
    stamp = cutoff.replace(tzinfo=None)  # Dagster stores naive UTC timestamps
    # Each asset's newest materializations and newest attempt records (observations: the memory,
    # duration and cost history that sizing and rightsizing read by count, not by time).
    measured = [dg.DagsterEventType.ASSET_MATERIALIZATION.value, dg.DagsterEventType.ASSET_OBSERVATION.value]
    newest = (
        db.select(events.c.id, db.func.row_number().over(
            partition_by=[events.c.asset_key, events.c.dagster_event_type], order_by=events.c.id.desc()).label("rank"))
        .where(events.c.dagster_event_type.in_(measured))
        .subquery()
    )
    kept = db.select(newest.c.id).where(newest.c.rank <= latest_per_asset)
    old = (events.c.timestamp < stamp) & events.c.asset_key.is_not(None) & events.c.id.not_in(kept)
    with storage.index_connection() as conn:
        conn.execute(tags.delete().where(tags.c.event_timestamp < stamp, tags.c.event_id.not_in(kept)))
        deleted = conn.execute(events.delete().where(old)).rowcount
        evaluated = executions.c.evaluation_event_timestamp
        old_executions = (evaluated < stamp) | (evaluated.is_(None) & (executions.c.create_timestamp < stamp))
        checks = conn.execute(executions.delete().where(old_executions)).rowcount
    return deleted, checks


def _delete_unnamed_runs(instance: dg.DagsterInstance, cutoff: datetime) -> int:
    """Runs that finished before ``cutoff`` and that no kept materialization or asset record names."""
    import sqlalchemy as db

    events, _, _ = event_log_tables()
    candidates = _finished_runs(instance, None, cutoff)
    if not candidates:
        return 0
    with instance.event_log_storage.index_connection() as conn:
        named = {row[0] for row in conn.execute(
            db.select(events.c.run_id).distinct().where(events.c.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION.value)
        )}
    for record in instance.get_asset_records():
        entry = record.asset_entry
        named |= {entry.last_run_id, entry.last_planned_materialization_run_id}
    deleted = 0
    for run_id in candidates:
        if run_id not in named:
            instance.delete_run(run_id)
            deleted += 1
    return deleted


@dg.op(description="Deletes instance history the platform no longer reads (ml_platform.history_purge); logs what it deleted.")
def purge_instance_history(context: dg.OpExecutionContext, config: Retention) -> None:
    report = purge_history(context.instance, config)
    context.log.info(f"instance history purge: {asdict(report)}")


@dg.job(description="Keeps the instance database bounded: run events past 14 days, asset events past 90 (docs/operations.md).")
def instance_history_purge():
    purge_instance_history()


instance_history_purge_schedule = dg.ScheduleDefinition(
    name="instance_history_purge",
    job=instance_history_purge,
    cron_schedule="17 3 * * *",  # daily, off the hour the product schedules and backfills start
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily purge of run history past the windows the platform reads (ml_platform.history_purge).",
)
