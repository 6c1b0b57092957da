"""What a batch run did to each table partition, read back from the run's records in Dagster.

The summary of ``ml-platform run`` and ``backfill`` says only what Dagster recorded: a partition
is ``ok`` when its materialization and every check planned for it were recorded and passed;
``FAILED`` with the first line of the error when its step or one of its check steps crashed (or
the run failed before its steps); ``checks: ...`` when a check ran and failed; ``skipped`` when an
upstream in the same run did not land. A run may cover one partition or a range of them: every
record is matched by its partition.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from ml_platform import cron
from ml_platform.alerting.failure_content import summarize
from ml_platform.declaration import INTERRUPTED_TAG, MLAsset
from ml_platform.ranged_runs import FAILED_PARTITIONS

RECORDED = {
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.RUN_FAILURE,
}
MAX_ERROR = 200


@dataclass(frozen=True)
class AssetOutcome:
    asset: str
    product: str
    partition: str  # "-" for an unpartitioned table
    rows: int | None
    seconds: float | None
    deadline: datetime
    status: str
    run_id: str | None = None
    materialized: bool = False

    @property
    def ok(self) -> bool:
        return self.status.startswith("ok")

    @property
    def target(self) -> tuple[dg.AssetKey, str | None]:
        return dg.AssetKey.from_user_string(self.asset), None if self.partition == "-" else self.partition


def deadline_for(declaration: MLAsset, day: str) -> datetime:
    """The deadline by which ``day``'s partition (or, unpartitioned, the next refresh) is due."""
    start_of_day = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(declaration.slo.timezone))
    return cron.next_tick(declaration.slo.deadline_cron, start_of_day, declaration.slo.timezone)


def _short(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"


def first_line(error) -> str:
    """The root cause of a recorded error (``SerializableErrorInfo``), one line: ``Class: message``."""
    return _short(summarize(error).headline)


@dataclass
class RunRecords:
    """One run's records, keyed by (asset or check, partition)."""

    materialized: dict
    evaluations: dict
    planned_checks: set
    failed_steps: dict
    run_failure: str | None
    seconds: dict
    attempts: dict
    day_failures: dict  # (step, partition) -> the reason a ranged step gave for that day

    @classmethod
    def read(cls, instance: dg.DagsterInstance, run_id: str) -> "RunRecords":
        materialized, evaluations, planned, failed_steps, run_failure, day_failures = {}, defaultdict(list), set(), {}, None, {}
        for entry in instance.all_logs(run_id, of_type=RECORDED):
            event = entry.dagster_event
            if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                m = event.step_materialization_data.materialization
                count = m.metadata.get("dagster/partition_row_count") or m.metadata.get("dagster/row_count")
                materialized[(m.asset_key, m.partition)] = count.value if count is not None else None
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.asset_check_evaluation_data
                evaluations[(evaluation.asset_key, evaluation.partition)].append(evaluation)
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
                planned.add(event.asset_check_planned_data.asset_check_key)
            elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
                failed_steps[event.step_key] = first_line(event.step_failure_data.error)
                user = event.step_failure_data.user_failure_data
                reasons = user.metadata.get(FAILED_PARTITIONS) if user is not None else None
                for partition, reason in (reasons.value if reasons is not None else {}).items():
                    day_failures[(event.step_key, partition)] = reason  # a ranged step: each failed day's own reason
            elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
                error = event.job_failure_data.error
                run_failure = first_line(error) if error else entry.user_message.splitlines()[0]
        stats = instance.get_run_step_stats(run_id)
        seconds = {s.step_key: s.end_time - s.start_time for s in stats if s.end_time and s.start_time}
        return cls(materialized, evaluations, planned, failed_steps, run_failure, seconds, {s.step_key: s.attempts for s in stats}, day_failures)


def read_outcomes(
    instance: dg.DagsterInstance,
    run_id: str,
    graph,
    declared: dict[dg.AssetKey, MLAsset],
    selection: list[dg.AssetKey],
    partitions: list[str],
) -> list[AssetOutcome]:
    """One outcome per selected table and partition of the run (one, unpartitioned, per model)."""
    records = RunRecords.read(instance, run_id)
    run = instance.get_run_by_id(run_id)
    interrupted = run is not None and INTERRUPTED_TAG in run.tags
    single = partitions[0] if len(partitions) == 1 else None
    statuses: dict[tuple[dg.AssetKey, str | None], str] = {}
    outcomes = []
    for key in selection:  # toposorted: an upstream's status is known before its consumers'
        declaration = declared[key]
        step = graph.assets_def_for_key(key).node_def.name
        for partition in partitions if graph.get(key).is_partitioned else [None]:
            materialized = (key, partition) in records.materialized
            status = _status(records, graph, key, partition, partitions, step, statuses, materialized)
            if interrupted and status.startswith("FAILED"):
                status = "interrupted (Ctrl-C)"
            if status == "ok" and partition and datetime.now().astimezone() > deadline_for(declaration, partition):
                status = "ok (after deadline)"
            if materialized and records.attempts.get(step, 1) > 1:
                status += f" ({records.attempts[step]} attempts)"
            statuses[(key, partition)] = status
            outcomes.append(
                AssetOutcome(
                    asset=key.to_user_string(),
                    product=declaration.product,
                    partition=partition or "-",
                    rows=records.materialized.get((key, partition)),
                    seconds=records.seconds.get(step),
                    deadline=deadline_for(declaration, partition or (single or partitions[0])),
                    status=status,
                    run_id=run_id,
                    materialized=materialized,
                )
            )
    return outcomes


def _step_failure(message: str, partition: str | None, partitions: list[str]) -> str:
    """A failed step's message as a partition's row says it: a step over a range of days fails all
    of them, but its message may be about one day only."""
    if partition is None or len(partitions) == 1:
        return message
    named = [day for day in partitions if day in message]
    if partition in named or not named:
        return message if named else f"the step over {partitions[0]}...{partitions[-1]} failed: {message}"
    return f"the step over {partitions[0]}...{partitions[-1]} failed on {named[0]}, so this day was not written either"


def _status(records: RunRecords, graph, key, partition, partitions, step, statuses, materialized) -> str:
    if not materialized:
        if (step, partition) in records.day_failures:
            return f"FAILED: {_short(records.day_failures[(step, partition)])}"
        if step in records.failed_steps:
            return f"FAILED: {_step_failure(records.failed_steps[step], partition, partitions)}"
        for parent in sorted(graph.get(key).parent_keys):
            upstream = statuses.get((parent, partition)) or statuses.get((parent, None))
            if upstream is not None and not upstream.startswith(("ok", "checks: WARN")):
                why = "failed" if upstream.startswith("FAILED") else "failed " + upstream if upstream.startswith("checks") else "was skipped"
                return f"skipped: upstream {parent.to_user_string()} {why}"
        if records.run_failure:
            return f"FAILED: run failed: {records.run_failure}"
        return "FAILED: not materialized (no step failure recorded)"
    checks = [c for c in graph.get(key).check_keys if c in records.planned_checks]
    # A partition-unaware check (a team's own @asset_check) judged the run's whole output: every day of it.
    evaluated = records.evaluations.get((key, partition), []) + (records.evaluations.get((key, None), []) if partition is not None else [])
    missing = sorted({c.name for c in checks} - {e.check_name for e in evaluated})
    # A check step that failed without recording its checks crashed (a blocking check that failed fails its step too).
    crashed = {
        records.failed_steps[node]
        for c in checks
        if c.name in missing and (node := graph.assets_def_for_key(c).node_def.name) in records.failed_steps
    }
    if crashed:
        return f"FAILED: check step crashed: {sorted(crashed)[0]}"
    failed = sorted(f"{e.severity.value} {e.check_name}" for e in evaluated if not e.passed)
    if failed:
        return "checks: " + ", ".join(failed)
    if missing:
        return "checks not run: " + ", ".join(missing)
    return "ok"


def skipped(declared: dict[dg.AssetKey, MLAsset], graph, keys, partitions: list[str], reason: str) -> list[AssetOutcome]:
    """Outcomes of a run that was not started, because ``reason``."""
    return [
        AssetOutcome(
            asset=key.to_user_string(),
            product=declared[key].product,
            partition=partition or "-",
            rows=None,
            seconds=None,
            deadline=deadline_for(declared[key], partition or partitions[0]),
            status=f"skipped: {reason}",
        )
        for key in keys
        for partition in (partitions if graph.get(key).is_partitioned else [None])
    ]


def format_outcomes(outcomes: list[AssetOutcome]) -> str:
    header = ("asset", "partition", "rows", "seconds", "SLO deadline", "status")
    lines = [
        (
            o.asset,
            o.partition,
            "-" if o.rows is None else f"{o.rows:,}",
            "-" if o.seconds is None else f"{o.seconds:.2f}",
            o.deadline.strftime("%Y-%m-%d %H:%M %Z"),
            o.status,
        )
        for o in outcomes
    ]
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*row).rstrip() for row in [header, tuple("-" * w for w in widths), *lines])
