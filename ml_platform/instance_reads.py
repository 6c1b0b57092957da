"""Batched reads of the Dagster instance for the platform's sensors.

Each function is one storage query (or one per page of ``PAGE`` rows) over every asset at
once, so the SLO sensor's storage calls per tick do not grow with the number of tables.
Schedule and sensor states need Dagster's internal instigator types (ml_platform._dagster_internal).
The instance's key-value store (``daemon_cursor_storage``, where Dagster's own
daemons keep their cursors) holds state written rarely, outside the per-tick sensor cursor.
"""

import functools
from dataclasses import dataclass

import dagster as dg

from ml_platform._dagster_internal import InstigatorStatus, InstigatorType, is_run_sharded_sqlite
from ml_platform.alerting.failure_content import root_cause
from ml_platform.compute.pricing import COST_ERROR_KEY, COST_ESTIMATE_KEY, COST_KEY, COST_RATE_KEY, COST_SIZE_KEY
from ml_platform.compute.step_usage import (
    DURATION_KEY,
    OUTCOME_KEY,
    PEAK_MEMORY_KEY,
    REQUESTED_MEMORY_KEY,
    STARTUP_KEY,
    SUCCEEDED,
)
from ml_platform.slo.deadlines import Materialization

PAGE = 10_000
WINDOW_PAGE = 1_000


def materializations_since(
    instance: dg.DagsterInstance, cursor: dict, after_timestamp: float, now: float
) -> tuple[list[Materialization], dict]:
    """Materializations of every asset not read before ``cursor`` (with none, after a time),
    oldest first, and the new cursor (see ``_event_records_after``). One query per page, across all assets."""
    found: list[Materialization] = []
    records, cursor = _event_records_after(instance, dg.DagsterEventType.ASSET_MATERIALIZATION, cursor, after_timestamp, now)
    for record in records:
        event = record.event_log_entry.dagster_event
        found.append(
            Materialization(
                asset=record.asset_key.to_user_string(),
                timestamp=record.timestamp,
                partition=event.partition if event else None,
                run_id=record.run_id,
            )
        )
    return found, cursor


def materializations_after(instance: dg.DagsterInstance, after_timestamp: float) -> list[Materialization]:
    """Every materialization after a time (one-off reads: the SLO report, the at-risk history)."""
    return materializations_since(instance, {}, after_timestamp, 0.0)[0]


# Event ids come from one sequence, but on PostgreSQL concurrent run workers commit them out of
# order: id 100 can become visible after id 101 was read. So each read starts below the highest id
# read, at the highest id read OVERLAP_SECONDS ago (the floor), and skips the ids it already
# returned above the floor. An event is missed only if its transaction stayed open longer than the
# overlap minus one tick interval; Dagster writes an event in one short transaction.
OVERLAP_SECONDS = 120.0
MAX_SEEN = 100  # ids kept for deduplication: past this many, the floor rises (bounded cursor)


@dataclass(frozen=True)
class AttemptRecord:
    """One step attempt's record (``compute.step_usage``): what it used, how it ended, what it cost."""

    asset: str
    timestamp: float
    partition: str | None
    run_id: str
    outcome: str  # succeeded, failed, oom_killed, preempted
    peak_mib: float | None
    duration_s: float | None  # wall time of the step process or container
    startup_s: float  # launch to process start
    requested_memory: str | None
    cost_usd: float | None  # None: unpriced (cost_error says why, or the asset has no compute profile)
    cost_error: str | None = None
    usd_per_hour: float | None = None
    size: str | None = None
    estimate: bool = False  # ran locally, priced as its declared backend

    @property
    def wall_s(self) -> float | None:
        """What the attempt took from launch to its end: start-up plus the process's wall time."""
        return None if self.duration_s is None else self.duration_s + self.startup_s


def attempts_after(instance: dg.DagsterInstance, after_timestamp: float) -> list[AttemptRecord]:
    """Every step attempt recorded after a time, oldest first. One query per page, across all
    assets: sizing, the deadline p90 and the cost report read a whole code location with it."""
    records, _ = _event_records_since(instance, dg.DagsterEventType.ASSET_OBSERVATION, after_timestamp)
    found = []
    for record in records:
        event = record.event_log_entry.dagster_event
        observation = event.asset_observation_data.asset_observation if event else None
        if observation is None or OUTCOME_KEY not in observation.metadata:
            continue  # another observation (prediction monitoring, ...)
        values = {key: entry.value for key, entry in observation.metadata.items()}
        value = values.get
        number = functools.partial(_number, values)
        found.append(
            AttemptRecord(
                asset=record.asset_key.to_user_string(),
                timestamp=record.timestamp,
                partition=observation.partition,
                run_id=record.event_log_entry.run_id,
                outcome=str(value(OUTCOME_KEY)),
                peak_mib=number(PEAK_MEMORY_KEY),
                duration_s=number(DURATION_KEY),
                startup_s=number(STARTUP_KEY) or 0.0,
                requested_memory=value(REQUESTED_MEMORY_KEY),
                cost_usd=number(COST_KEY),
                cost_error=value(COST_ERROR_KEY),
                usd_per_hour=number(COST_RATE_KEY),
                size=value(COST_SIZE_KEY),
                estimate=bool(value(COST_ESTIMATE_KEY)),
            )
        )
    return found


def _number(values: dict, key: str) -> float | None:
    return float(values[key]) if values.get(key) is not None else None


def step_durations(instance: dg.DagsterInstance, after_timestamp: float) -> dict[str, list[float]]:
    """Per asset, the time its successful steps took — start-up plus the step process's wall time —
    oldest first. The one read behind every duration percentile (the on-demand switch, at-risk)."""
    durations: dict[str, list[float]] = {}
    for attempt in attempts_after(instance, after_timestamp):
        if attempt.outcome == SUCCEEDED and attempt.wall_s is not None:
            durations.setdefault(attempt.asset, []).append(attempt.wall_s)
    return durations


@dataclass(frozen=True)
class MaterializationKey:
    asset: str
    timestamp: float
    partition: str | None
    run_id: str


def materialization_keys_after(instance: dg.DagsterInstance, after_timestamp: float) -> list[MaterializationKey]:
    """Every materialization after a time (asset, partition, run), oldest first: the cost report
    counts the ones no priced attempt paid for as unpriced."""
    records, _ = _event_records_since(instance, dg.DagsterEventType.ASSET_MATERIALIZATION, after_timestamp)
    return [
        MaterializationKey(r.asset_key.to_user_string(), r.timestamp, r.partition_key, r.event_log_entry.run_id)
        for r in records
    ]


def materialized_before(instance: dg.DagsterInstance, key: dg.AssetKey, timestamp: float) -> bool:
    """Whether the asset has a materialization older than a time (one query)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, before_timestamp=timestamp), limit=1).records
    return bool(records)


def _event_records_after(
    instance: dg.DagsterInstance, event_type: dg.DagsterEventType, cursor: dict, after_timestamp: float, now: float
) -> tuple[list, dict]:
    """Every record of one event type not returned before (with an empty cursor, after a time),
    in storage-id order, and the new cursor: one query per page of ``PAGE`` rows, across all assets.

    The cursor: ``after`` (highest id read), ``floor`` (reads start above it), ``marks`` (when
    each recent read happened and its ``after``: the floor follows them ``OVERLAP_SECONDS`` late)
    and ``seen`` (ids read above the floor, delta-encoded)."""
    after, floor = cursor.get("after"), cursor.get("floor", cursor.get("after"))
    if floor is None:  # the first read: by time, walking the id index back (no scan of history)
        records, last = _event_records_since(instance, event_type, after_timestamp)
        if last is None:
            return [], {}
        floor, seen = (records[0].storage_id - 1 if records else last), set()  # its records count as seen
    else:
        seen = set(_decode(floor, cursor.get("seen", [])))
        records, last = [], floor
        while True:
            page = instance.event_log_storage.get_event_records(
                dg.EventRecordsFilter(event_type=event_type, after_cursor=last), limit=PAGE, ascending=True
            )
            records.extend(page)
            if page:
                last = page[-1].storage_id
            if len(page) < PAGE:
                break
    new = [r for r in records if r.storage_id not in seen]
    after = last if after is None else max(after, last)
    marks = [*cursor.get("marks", []), [round(now), after]]
    while marks and marks[0][0] <= now - OVERLAP_SECONDS:
        floor = max(floor, marks.pop(0)[1])  # never below a floor raised by the MAX_SEEN bound
    seen = sorted(i for i in seen | {r.storage_id for r in records} if i > floor)
    if len(seen) > MAX_SEEN:
        floor, seen = seen[-MAX_SEEN - 1], seen[-MAX_SEEN:]
    return new, {"after": after, "floor": floor, "marks": marks, "seen": _encode(floor, seen)}


def _encode(floor: int, ids: list[int]) -> list[int]:
    """Sorted ids above ``floor`` as gaps (small numbers: a short cursor)."""
    return [b - a for a, b in zip([floor, *ids], ids, strict=False)]


def _decode(floor: int | None, gaps: list[int]) -> list[int]:
    ids, last = [], floor or 0
    for gap in gaps:
        last += gap
        ids.append(last)
    return ids


def _event_records_since(instance: dg.DagsterInstance, event_type: dg.DagsterEventType, after_timestamp: float) -> tuple[list, int | None]:
    """Every record of one event type after a time, oldest first, and the newest storage id.

    The event log has no index on time: a filter on it makes PostgreSQL scan the event type's
    whole history (months of check evaluations) to find the last day. Walking Dagster's
    (event type, id) index backwards, newest first, page by page, stops one page past the window
    instead. Pages are smaller than ``PAGE``: the last one is read past the window, and reading a
    record (deserializing it) is what costs."""
    found: list = []
    before = None
    newest = None
    while True:
        records = instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(event_type=event_type, before_cursor=before), limit=WINDOW_PAGE, ascending=False
        )
        if records and newest is None:
            newest = records[0].storage_id
        found.extend(r for r in records if r.timestamp > after_timestamp)
        if len(records) < WINDOW_PAGE or records[-1].timestamp <= after_timestamp:
            found.reverse()
            return found, newest
        before = records[-1].storage_id


def freshness_states(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> dict[str, str]:
    """The freshness daemon's current state per asset ("PASS", "WARN", "FAIL", "UNKNOWN", ...)."""
    records = instance.get_freshness_state_records(keys)
    return {key.to_user_string(): record.freshness_state.value for key, record in records.items() if record}


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str  # DagsterRunStatus value
    partition: str | None
    created: float
    started: float | None
    ended: float | None
    will_retry: bool = False  # a failed run Dagster's run retries will run again (tag dagster/will_retry)

    @property
    def began(self) -> float:
        """When the run started, or was created if it has not started yet."""
        return self.started if self.started is not None else self.created


def last_planned_runs(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> dict[str, RunInfo]:
    """The newest run that planned to materialize each asset (two calls: the asset records, then
    those runs). Planned-materialization events name the run whatever launched it (schedule,
    UI, backfill), unlike a run's asset selection, which is empty for whole-job runs."""
    if not keys:
        return {}
    run_ids = {}
    for record in instance.get_asset_records(keys):
        entry = record.asset_entry
        # Storages that keep no separate planned-run column record the planned run as last_run_id.
        run_id = entry.last_planned_materialization_run_id or entry.last_run_id
        if run_id:
            run_ids[entry.asset_key.to_user_string()] = run_id
    if not run_ids:
        return {}
    runs = {
        r.dagster_run.run_id: RunInfo(
            run_id=r.dagster_run.run_id,
            status=r.dagster_run.status.value,
            partition=r.dagster_run.tags.get("dagster/partition"),
            created=r.create_timestamp.timestamp(),
            started=r.start_time,
            ended=r.end_time,
            will_retry=r.dagster_run.tags.get("dagster/will_retry") == "true",
        )
        for r in instance.get_run_records(dg.RunsFilter(run_ids=sorted(set(run_ids.values()))))
    }
    return {asset: runs[run_id] for asset, run_id in run_ids.items() if run_id in runs}


def stopped_schedules(instance: dg.DagsterInstance) -> set[str]:
    """Names of schedules switched off in the UI or CLI (a schedule never touched runs by its code default)."""
    states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    return {state.name for state in states if state.status == InstigatorStatus.STOPPED}


def run_failure_message(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The root error of a failed run's first failed step (the run-failure event alone says only
    "steps failed"). One query, made once per new alert whose cause is a failed run."""
    events = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE})
    for entry in events:
        event = entry.dagster_event
        if event and event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            if error is not None:
                return root_cause(error).message.strip()
    for entry in events:
        if entry.dagster_event and entry.dagster_event.message:
            return entry.dagster_event.message
    return None


def stored_value(instance: dg.DagsterInstance, key: str) -> str | None:
    """A value kept in the instance's key-value store (written rarely, read once per tick)."""
    return instance.daemon_cursor_storage.get_cursor_values({key}).get(key)


def store_value(instance: dg.DagsterInstance, key: str, value: str) -> None:
    instance.daemon_cursor_storage.set_cursor_values({key: value})


def stored_values(instance: dg.DagsterInstance, keys: set[str]) -> dict[str, str]:
    """Many values of the key-value store in one query; absent keys are left out."""
    return dict(instance.daemon_cursor_storage.get_cursor_values(keys)) if keys else {}


def store_values(instance: dg.DagsterInstance, pairs: dict[str, str], existing: set[str]) -> None:
    """Write ``pairs``; ``existing`` names the keys already stored (updated in place here).

    New and existing keys go in separate calls: the SQLite storage's ``set_cursor_values`` inserts
    all rows and, if one exists already, only updates the existing ones, so a new key in a mixed
    batch would be lost (PostgreSQL upserts row by row)."""
    new = {k: v for k, v in pairs.items() if k not in existing}
    old = {k: v for k, v in pairs.items() if k in existing}
    for batch in (old, new):
        if batch:
            instance.daemon_cursor_storage.set_cursor_values(batch)
    existing.update(new)


def sensor_states(instance: dg.DagsterInstance) -> list:
    """Every sensor's stored state (filtered in storage: one query)."""
    return list(instance.all_instigator_state(instigator_type=InstigatorType.SENSOR))


def check_evaluations_since(
    instance: dg.DagsterInstance, cursor: dict, after_timestamp: float, now: float
) -> tuple[list[tuple[str, dg.AssetCheckEvaluation]], dict]:
    """Completed check evaluations of every check not read before ``cursor`` (with none, after a
    time), oldest first, with their run ids, and the new cursor. One query per page on PostgreSQL.
    Planned (still running) executions are another event type, so they are never read.
    The instance has no public read of check evaluations across checks after a cursor
    (``get_asset_check_execution_history`` is one query per check): the event log storage's is used."""
    if _run_sharded(instance):
        return _check_evaluations_by_time(instance, max(cursor.get("after_time", 0.0), after_timestamp))
    records, cursor = _event_records_after(instance, dg.DagsterEventType.ASSET_CHECK_EVALUATION, cursor, after_timestamp, now)
    return _evaluations(records), cursor


def _evaluations(records) -> list[tuple[str, dg.AssetCheckEvaluation]]:
    found = []
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event else None
        if isinstance(data, dg.AssetCheckEvaluation):
            found.append((record.event_log_entry.run_id, data))
    return found


def _run_sharded(instance: dg.DagsterInstance) -> bool:
    # The default local SQLite storage keeps one database per run, so its storage ids are not
    # comparable across runs; only a time cursor works there.
    return is_run_sharded_sqlite(instance.event_log_storage)


def _check_evaluations_by_time(instance: dg.DagsterInstance, after: float) -> tuple[list[tuple[str, dg.AssetCheckEvaluation]], dict]:
    """Run-sharded SQLite (local development): every evaluation after a time, ordered by time."""
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_timestamp=after), ascending=True
    )
    records = sorted(records, key=lambda r: r.timestamp)
    return _evaluations(records), {"after_time": records[-1].timestamp if records else after}


def asset_events_after(instance: dg.DagsterInstance, event_type: dg.DagsterEventType, after_timestamp: float) -> list:
    """Every record of one asset event type (check evaluations, observations) after a time, oldest
    first: ONE storage query whatever the number of assets and days (the prediction-health report
    reads a fixed number of them). The time filter scans the event type's rows; the report runs
    once a day, unlike the sensors, which read after a storage-id cursor."""
    return list(
        instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(event_type=event_type, after_timestamp=after_timestamp), limit=None, ascending=True
        )
    )
