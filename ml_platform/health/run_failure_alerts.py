"""Run-failure alerts for every run of this code location, however it was launched.

A plain sensor (not ``run_failure_sensor``) so it keeps an alert ledger (``AlertLedger.load``):
alerts survive Slack outages and sensor restarts. A tick's storage calls do not grow with the assets or
runs (only the rare crashed-check alerts add a few each):

1. ``RUN_FAILURE`` status changes after the cursor (at most ``MAX_RUNS_PER_TICK``); each one
   carries the run's first step failure with its error chain,
2. those runs, in one batched ``get_runs`` call,
3. while run-failure alerts are open: the materializations of every asset stored since the
   previous tick (one query per page across all assets, ``instance_reads``); a materialization of
   an alert's asset and partition after the failure resolves it. So a backfill that re-runs
   several failed partitions between two ticks resolves each of them at the next tick.
4. while run-failure alerts are open: the runs that succeeded since the previous tick (one paged
   read, one batched read of those runs); a successful re-execution of a failed run ("Re-execute
   from failure", which may run only checks and materialize nothing) resolves its alert.
5. only while the alert of a crashed check step is open: that step's checks' recent executions
   (one read per check, one batched read of their runs); once each was evaluated again for the
   partition (every day of a range), in any run, it resolves.

Which runs belong here: a run launched through the workspace (schedule, sensor, UI
"Materialize", backfill) carries its code location in its origin, compared with this sensor's
location. A run executed in process (``dagster asset materialize``, ``materialize()``) has no
origin; it belongs here when it targets an asset of this code location.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import dagster as dg

from ml_platform import instance_reads
from ml_platform.alerting import Alert, AlertLedger, AlertSink, Kind, Severity
from ml_platform.alerting.failure_content import summarize
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick, alert_sensor
from ml_platform.checks.holds import executed_at
from ml_platform.declaration import INTERRUPTED_TAG, MLAsset
from ml_platform.ranged_runs import FAILED_PARTITIONS

MAX_RUNS_PER_TICK = 25
INITIAL_LOOKBACK_SECONDS = 3600.0  # a sensor without a cursor alerts on failures this recent
FORGET_AFTER_SECONDS = 14 * 24 * 3600.0  # an unresolved failure this old leaves the ledger, silently
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
READ_STATE, READ_AT = "materialized", "materialized_at"  # read position over materializations; newest seen
SUCCESS_CURSOR = "success_cursor"  # read position over successful runs, while alerts are open
PARENT_TAGS = ("dagster/parent_run_id", "dagster/root_run_id")  # set on every re-execution
WILL_RETRY_TAG = "dagster/will_retry"  # set on a failed run: whether the instance's run retries re-launch it
AUTO_RETRY_TAG = "dagster/auto_retry_run_id"  # set on it once the retry is launched
RETRY_PENDING, RETRY_DUE = "retry_pending", "retry_due"  # run id -> failed at; runs to page this tick
RETRY_GRACE_SECONDS = 600.0  # a retry promised but not launched by then is paged as the failure it is
CHECK_HISTORY = 50  # recent executions of a crashed check read to resolve its alert
TAG_GRACE_SECONDS = 60.0  # Dagster tags will_retry right after the failure event: a run still without it
RANGES_LANDED = "ranges_landed"  # open range alert -> the days of its range materialized again so far
RANGE_SEPARATOR = "..."
LAUNCHERS = (("dagster/backfill", "backfill"), ("dagster/schedule_name", "schedule"), ("dagster/sensor_name", "sensor"))


@dataclass(frozen=True)
class StepFailure:
    step_key: str
    error: object | None  # SerializableErrorInfo
    failed_partitions: Mapping[str, str] | None = None  # a ranged run's step: partition -> reason (ranged_runs)


def evaluate(tick: Tick) -> Outcome:
    ledger, graph = tick.ledger, tick.asset_graph
    failures = _new_run_failures(tick.instance, ledger.state, tick.now)
    failures += _retries_that_did_not_happen(tick.instance, ledger.state, tick.now)
    runs = _runs_by_id(tick.instance, {record.event_log_entry.run_id for record in failures})
    keys_by_step = _asset_keys_by_step(graph) if failures else {}
    declared = tick.declared if failures else {}
    retries = tick.instance.run_retries_enabled
    raised: list[Alert] = []
    for record in failures:
        run = runs.get(record.event_log_entry.run_id)
        if run is None or INTERRUPTED_TAG in run.tags:
            continue  # the CLI's user stopped it
        if retries and run.tags.get(WILL_RETRY_TAG) != "false" and run.run_id not in ledger.state.get(RETRY_DUE, ()):
            ledger.state.setdefault(RETRY_PENDING, {})[run.run_id] = record.timestamp  # Dagster may re-launch it
            continue
        for failure in _step_failures(tick.instance, record):  # one table's failure does not hide another's
            keys = keys_by_step.get(_op_name(failure.step_key), []) if failure else []
            if _belongs_here(run, keys, tick.location, graph):
                for alert in _failure_alerts(run, record, failure, keys, declared, graph, tick.sink):
                    if ledger.raise_alert(alert):
                        raised.append(alert)
    ledger.state.pop(RETRY_DUE, None)
    resolved = _resolve_rematerialized(tick.instance, ledger, raised, tick.now, graph)
    resolved += _resolve_run_again(tick.instance, ledger) + _resolve_checks_ran(tick.instance, ledger, graph)
    _forget_stale(ledger, tick.now)
    return Outcome(len(raised), resolved)


def _retries_that_did_not_happen(instance: dg.DagsterInstance, state: dict, now: float) -> list:
    """The failure records of runs put off for Dagster's run retries that are due now: the retry
    was refused (``dagster/will_retry`` turned false), or none was launched within
    ``RETRY_GRACE_SECONDS`` (its tag missing, or true with no ``dagster/auto_retry_run_id``). A run
    whose retry was launched leaves: the retry alerts if it fails too. One batched read of the
    pending runs, and one read per due run (rare)."""
    pending = state.get(RETRY_PENDING, {})
    if not pending:
        return []
    runs = _runs_by_id(instance, set(pending))
    due = []
    for run_id, failed_at in list(pending.items()):
        run = runs.get(run_id)
        if run is None or AUTO_RETRY_TAG in run.tags:
            del pending[run_id]  # deleted, or its retry is launched
            continue
        will_retry = run.tags.get(WILL_RETRY_TAG)
        waited = now - failed_at
        if will_retry == "false" or waited > (RETRY_GRACE_SECONDS if will_retry == "true" else TAG_GRACE_SECONDS):
            del pending[run_id]
            due.append(run_id)
    state[RETRY_DUE] = due
    return [r for run_id in due for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[-1:]]


RUN_FAILURE_ALERTS = AlertSensor(
    name="run_failure_alerts",
    kinds=(Kind.RUN_FAILURE,),
    evaluate=evaluate,
    minimum_interval_seconds=30,
    description=(
        "Alerts once per failed run of this code location (step, traceback tail, link); "
        "resolves when the asset partition is materialized again."
    ),
)


def build_run_failure_alert_sensor(
    name: str = RUN_FAILURE_ALERTS.name,
    minimum_interval_seconds: int = RUN_FAILURE_ALERTS.minimum_interval_seconds,
    clock: Callable[[], float] | None = None,
) -> dg.SensorDefinition:
    """The sensor; ``clock`` is injectable so tests can step through backoff periods."""
    return alert_sensor(RUN_FAILURE_ALERTS, name=name, minimum_interval_seconds=minimum_interval_seconds, clock=clock)


def _new_run_failures(instance: dg.DagsterInstance, state: dict, now: float) -> list:
    """``RUN_FAILURE`` records after the cursor kept in ``state`` (updated in place).

    The first tick reads only the lookback; if that finds nothing, its cursor is the newest
    failure ever (read first, so nothing committed in between is skipped), never storage id -1,
    from which the next tick would replay the whole history."""
    failure = dg.DagsterEventType.RUN_FAILURE
    if state.get("failure_cursor"):
        result = instance.fetch_run_status_changes(failure, limit=MAX_RUNS_PER_TICK, cursor=state["failure_cursor"], ascending=True)
        state["failure_cursor"] = result.cursor
        return list(result.records)
    newest = instance.fetch_run_status_changes(failure, limit=1, ascending=False)
    recent = dg.RunStatusChangeRecordsFilter(event_type=failure, after_timestamp=float(now - INITIAL_LOOKBACK_SECONDS))
    result = instance.fetch_run_status_changes(recent, limit=MAX_RUNS_PER_TICK, ascending=True)
    state["failure_cursor"] = result.cursor if result.records else newest.cursor
    return list(result.records)


def _runs_by_id(instance: dg.DagsterInstance, run_ids: set[str]) -> dict[str, dg.DagsterRun]:
    if not run_ids:
        return {}
    return {run.run_id: run for run in instance.get_runs(dg.RunsFilter(run_ids=sorted(run_ids)))}


def _belongs_here(run: dg.DagsterRun, failed_keys: Sequence[dg.AssetKey], location: str | None, graph) -> bool:
    origin = run.remote_job_origin
    if origin is not None and location is not None:
        return origin.repository_origin.code_location_origin.location_name == location
    targeted = set(run.asset_selection or ()) | set(failed_keys)
    return any(graph.has(key) for key in targeted)


def _step_failures(instance: dg.DagsterInstance, record) -> list[StepFailure | None]:
    """Each failed step of the run (the run's own failure, [None], when no step failed). Dagster's
    run-failure event carries the first; the others are read from the run's step failures (one
    more read, only when a step failed)."""
    first = _step_failure(getattr(record.event_log_entry.dagster_event.event_specific_data, "first_step_failure_event", None))
    if first is None:
        return [None]
    failures = {first.step_key: first}
    for step in instance.get_records_for_run(record.event_log_entry.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        failure = _step_failure(step.event_log_entry.dagster_event)
        if failure is not None:
            failures.setdefault(failure.step_key, failure)
    return list(failures.values())


def _step_failure(step_event) -> StepFailure | None:
    if step_event is None:
        return None
    failure_data = getattr(step_event.event_specific_data, "user_failure_data", None)
    failed = (failure_data.metadata if failure_data else {}).get(FAILED_PARTITIONS)
    return StepFailure(step_event.step_key or "?", getattr(step_event.event_specific_data, "error", None), failed.value if failed else None)


def _run_error(record):
    """The run-level error, for runs that failed outside any step (e.g. a crashed run worker)."""
    return getattr(record.event_log_entry.dagster_event.event_specific_data, "error", None)


def _run_message(record) -> str:
    """Why a run failed outside any step, as whoever failed it said (the run monitoring's start
    timeout, ``run_worker_start_watch``'s pod reason)."""
    return (record.event_log_entry.dagster_event.message or "").strip()


def _failure_alerts(
    run: dg.DagsterRun, record, failure: StepFailure | None, failed_keys, declared: Mapping, graph, sink: AlertSink
) -> list[Alert]:
    """One alert per failed run; a ranged run whose step failed on some partitions: one per such
    partition, naming it and its reason (the step wrote and materialized the others)."""
    alert = _failure_alert(run, record, failure, failed_keys, declared, graph, sink)
    if failure is None or not failure.failed_partitions:
        return [alert]
    return [
        replace(alert, partition=partition, title=f"{alert.title}: partition {partition}",
                details=(*alert.details, ("Partition failed", reason)))
        for partition, reason in sorted(failure.failed_partitions.items())
    ]


def _failure_alert(
    run: dg.DagsterRun, record, failure: StepFailure | None, failed_keys, declared: Mapping, graph, sink: AlertSink
) -> Alert:
    run_keys = sorted(set(run.asset_selection or ()) | set(failed_keys), key=lambda k: k.to_user_string())
    subject_key = (list(failed_keys) or run_keys or [None])[0]
    declaration: MLAsset | None = declared.get(subject_key) if subject_key else None
    error = (failure.error if failure else None) or _run_error(record)
    summary = summarize(error) if error is not None else None
    what = subject_key.to_user_string() if subject_key else run.job_name
    details = [
        ("Failed step", failure.step_key if failure else ""),
        ("Error", summary.headline if summary else _run_message(record) or "the run failed before any step failed (see the run's logs)"),
        ("Launched by", _launcher(run)),
    ]
    if len(run_keys) > 1:
        details.append(("Assets in run", ", ".join(k.to_user_string() for k in run_keys)))
    return Alert(
        kind=Kind.RUN_FAILURE,
        severity=Severity.ERROR,
        title=f"Run failed: {what}" + (f" (step {failure.step_key})" if failure else ""),
        asset=subject_key.to_user_string() if subject_key else None,
        partition=_partition(run.tags) if subject_key is None or not graph.has(subject_key) or graph.get(subject_key).is_partitioned else None,
        incident=run.run_id,
        owner=declaration.owner if declaration else _owner(graph, subject_key),
        channel=declaration.alert_channel if declaration else None,
        since=record.timestamp,
        run_id=run.run_id,
        link=sink.run_url(run.run_id),
        details=tuple((label, value) for label, value in details if value),
        text=summary.traceback_tail if summary else "",
    )


def _asset_keys_by_step(graph) -> Mapping[str, Sequence[dg.AssetKey]]:
    """The assets each op materializes; a check op: the tables it checks (a crashed check step names its table)."""
    return {
        d.node_def.name: list(d.keys) or sorted({c.asset_key for c in d.check_keys}, key=lambda k: k.to_user_string())
        for d in graph.assets_defs if d.is_executable
    }


def _op_name(step_key: str) -> str:
    """``graph.op[mapping]`` -> ``graph``: the node an asset is defined by."""
    return step_key.split("[")[0].split(".")[0]


def _owner(graph, key: dg.AssetKey | None) -> str | None:
    owners = graph.get(key).owners if key is not None and graph.has(key) else []
    return owners[0] if owners else None


def _partition(tags: Mapping[str, str]) -> str | None:
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    if RANGE_START_TAG in tags:
        return f"{tags[RANGE_START_TAG]}{RANGE_SEPARATOR}{tags.get(RANGE_END_TAG, '')}"
    return None


def _launcher(run: dg.DagsterRun) -> str:
    for tag, label in LAUNCHERS:
        if tag in run.tags:
            return f"{label} {run.tags[tag]}"
    return "manual launch (UI or CLI)"


def _resolve_rematerialized(instance: dg.DagsterInstance, ledger: AlertLedger, raised: Sequence[Alert], now: float, graph) -> int:
    """Resolve every open run-failure alert whose asset partition was materialized after the failure;
    a failed ranged run's alert (partition ``A...B``), once every day of its range was.

    Materializations are read incrementally (``READ_STATE``) while alerts are open, from the oldest
    failure on. A failure processed late (behind a backlog of failures) re-reads from its own time.
    The days of a range that landed again are kept (``RANGES_LANDED``) until the last one does."""
    open_alerts = [a for a in ledger.open_alerts(Kind.RUN_FAILURE) if a.asset]
    if not open_alerts:
        for key in (READ_STATE, READ_AT, RANGES_LANDED):
            ledger.state.pop(key, None)  # nothing to watch: the next alert reads from its own failure
        return 0
    read = ledger.state.get(READ_STATE, {})
    late = [a.since or 0 for a in raised if read and (a.since or 0) < ledger.state.get(READ_AT, 0)]
    read, start = ({}, min(late)) if late else (read, min(a.since or now for a in open_alerts))
    materializations, ledger.state[READ_STATE] = instance_reads.materializations_since(instance, read, start, now)
    ledger.state[READ_AT] = max([ledger.state.get(READ_AT, 0), *(m.timestamp for m in materializations)])
    latest = {(m.asset, m.partition): m for m in materializations}  # oldest first: the newest wins
    landed_in_ranges = ledger.state.setdefault(RANGES_LANDED, {})
    resolved = 0
    for alert in open_alerts:
        days = _range_days(graph, alert)
        if days is None:
            again = latest.get((alert.asset, alert.partition))
        else:
            landed = set(landed_in_ranges.get(alert.subject, []))
            landed |= {d for d in days if (m := latest.get((alert.asset, d))) is not None and m.timestamp > (alert.since or 0)}
            landed_in_ranges[alert.subject] = sorted(landed)
            again = max((latest[(alert.asset, d)] for d in days if (alert.asset, d) in latest), key=lambda m: m.timestamp,
                        default=None) if landed >= set(days) else None
        if again is not None and again.timestamp > (alert.since or 0):
            changes = {"run_id": again.run_id, "link": None, "since": again.timestamp, "details": ()}
            resolved += ledger.resolve(alert.subject, f"Materialized again: {alert.asset}", **changes)
            landed_in_ranges.pop(alert.subject, None)
    return resolved


def _resolve_run_again(instance: dg.DagsterInstance, ledger: AlertLedger) -> int:
    """Resolve open alerts whose failed run was re-executed successfully ("Re-execute from failure",
    whose steps may all be checks, which materialize nothing). Successful runs are read
    incrementally from the oldest open alert on: one paged read, and one batched read of those runs."""
    open_alerts = ledger.open_alerts(Kind.RUN_FAILURE)
    if not open_alerts:
        ledger.state.pop(SUCCESS_CURSOR, None)
        return 0
    success = dg.DagsterEventType.RUN_SUCCESS
    if ledger.state.get(SUCCESS_CURSOR):
        result = instance.fetch_run_status_changes(success, limit=MAX_RUNS_PER_TICK, cursor=ledger.state[SUCCESS_CURSOR], ascending=True)
    else:
        oldest = min(a.since or 0 for a in open_alerts)
        records = dg.RunStatusChangeRecordsFilter(event_type=success, after_timestamp=float(oldest))
        result = instance.fetch_run_status_changes(records, limit=MAX_RUNS_PER_TICK, ascending=True)
    if result.records:
        ledger.state[SUCCESS_CURSOR] = result.cursor
    runs = _runs_by_id(instance, {r.event_log_entry.run_id for r in result.records})
    resolved = 0
    for record in result.records:
        run = runs.get(record.event_log_entry.run_id)
        parents = {run.tags.get(tag) for tag in PARENT_TAGS} - {None} if run is not None else set()
        for alert in ledger.open_alerts(Kind.RUN_FAILURE):
            if alert.incident in parents:
                why = f"Re-executed successfully in run {run.run_id[:8]}"
                resolved += ledger.resolve(alert.subject, why, run_id=run.run_id, link=None, since=record.timestamp, details=())
    return resolved


def _resolve_checks_ran(instance: dg.DagsterInstance, ledger: AlertLedger, graph) -> int:
    """Resolve the alert of a crashed check step once every check of that step was evaluated again
    for its partition (each day of a ranged run's ``A...B``), in any run: the UI's "Execute" on the
    checks, a new materialization. One read of each such check's recent executions, and one batched
    read of their runs, per open alert of a crashed check step (rare)."""
    checks_of_step = {d.node_def.name: d.check_keys for d in graph.assets_defs if d.is_executable and not d.keys and d.check_keys}
    resolved = 0
    for alert in ledger.open_alerts(Kind.RUN_FAILURE):
        keys = [c for c in checks_of_step.get(_op_name(_failed_step(alert) or ""), ()) if c.asset_key.to_user_string() == alert.asset]
        if not keys:
            continue
        days = _range_days(graph, alert) or [alert.partition]
        executions = [_executions_after(instance, key, alert.since or 0) for key in keys]
        again = [found.get(day) for found in executions for day in days]
        if all(again):
            passed = all(r.status.value == "SUCCEEDED" for r in again)
            why = f"Checks of {alert.asset} ran again and " + ("passed" if passed else "completed (a failed check alerts as data quality)")
            newest = max(again, key=executed_at)
            resolved += ledger.resolve(alert.subject, why, run_id=newest.run_id, link=None, since=executed_at(newest), details=())
    return resolved


def _executions_after(instance: dg.DagsterInstance, key: dg.AssetCheckKey, since: float) -> dict:
    """Partition -> the check's newest completed execution after ``since``. A partition-aware check
    records its partition; a team's partition-unaware one is judged in a run of that partition (the
    run's tag). Reads the check's last ``CHECK_HISTORY`` executions."""
    history = [r for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=CHECK_HISTORY)
               if r.status.value in ("SUCCEEDED", "FAILED") and executed_at(r) > since]
    unaware = [r for r in history if _evaluated_partition(r) is None]
    runs = _runs_by_id(instance, {r.run_id for r in unaware})
    found: dict = {}
    for record in sorted(history, key=executed_at):  # the newest wins
        partition = _evaluated_partition(record) or (_partition(runs[record.run_id].tags) if record.run_id in runs else None)
        found[partition] = record
    return found


def _evaluated_partition(record) -> str | None:
    event = record.event.dagster_event if record.event is not None else None
    return getattr(event.event_specific_data, "partition", None) if event is not None else None



def _failed_step(alert: Alert) -> str | None:
    return next((value for label, value in alert.details if label == "Failed step"), None)


def _range_days(graph, alert: Alert) -> list[str] | None:
    """The partitions of a failed ranged run's alert (``A...B``); None for a single partition."""
    if not alert.partition or RANGE_SEPARATOR not in alert.partition:
        return None
    first, last = alert.partition.split(RANGE_SEPARATOR, 1)
    key = dg.AssetKey.from_user_string(alert.asset)
    partitions = graph.get(key).partitions_def if graph.has(key) else None
    if partitions is None:
        return [first, last]
    return list(partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))


def _forget_stale(ledger: AlertLedger, now: float) -> None:
    """Keep the ledger small: a partition nobody re-ran for two weeks stops being an open incident."""
    for alert in ledger.open_alerts(Kind.RUN_FAILURE):
        if alert.since is not None and now - alert.since > FORGET_AFTER_SECONDS:
            del ledger.open[alert.subject]
            ledger.state.get(RANGES_LANDED, {}).pop(alert.subject, None)


run_failure_alerts = alert_sensor(RUN_FAILURE_ALERTS)
