"""SLO alerts: fatal when a table misses its deadline, warn when it is at risk, one resolution.

Each tick reads, for all declared assets at once:

* the freshness daemon's states (``get_freshness_state_records``, one call);
* the materializations stored since the previous tick (one query over all assets, paged);
* only when a new alert needs its cause: the runs created since the window opened (one call),
  the schedule states (one call), and the root error of each failed run named (one call each).

Which source decides the state at the latest past deadline ``D``:

* daily-partitioned tables: our own record of the first materialization of ``D``'s partition
  inside the window (``ml_platform.slo.deadlines``) — Dagster's per-asset state would PASS on a
  backfill of an old partition (upstream #15551); it is shown in the alert for reference;
* unpartitioned assets (models): the daemon's state (FAIL → breach, PASS → fresh); when the
  daemon has no state yet (UNKNOWN, never evaluated), or is not running (its states would be
  stale: ``ml_platform.freshness_watchdog``), our own record decides;
* WARN (not fresh for the next deadline within the declaration's ``warn_margin``): ours — the
  cron freshness policy has no warn window.

The sensor's first tick (no state anywhere yet) pages only what is wrong now: a table that landed
late before it ever ran (a quick start after the deadline, a first deployment), or whose last
deadline passed before it first landed (a quick start before the day's deadlines), is history,
counted in the tick's one summary line instead of a breach.

The first counting materialization per asset and deadline and the alert ledger (open incidents,
undelivered backlog) are kept across ticks, so each breach alerts once across ticks, restarts and
sink outages: the per-table records and the ledger's bulky parts in the instance's key-value store
(``AlertLedger.load``), the read position (storage ids, with a short overlap for ids committed out
of order: ``instance_reads``) in the cursor.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any

import dagster as dg

from ml_platform import freshness_watchdog, instance_reads
from ml_platform.alerting import Alert, AlertLedger, AlertSink, Kind, Severity
from ml_platform.alerting.links import asset_url
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick, alert_sensor, run_tick, tick_line
from ml_platform.checks.holds import Hold, holds
from ml_platform.declaration import MLAsset
from ml_platform.schedules.cross_product_launch import launch_sensor_name
from ml_platform.slo import causes as slo_causes
from ml_platform.slo import stale_reads
from ml_platform.slo.at_risk_alerts import AtRisk
from ml_platform.slo.causes import Cause
from ml_platform.slo.deadlines import (
    Materialization,
    counts_for,
    deadline_partition,
    from_iso,
    iso,
    latest_deadline,
    local_time,
    next_deadline,
    utc,
    window_start,
)

SENSOR_NAME = "slo_alerts"
PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
SLO_KINDS = (Kind.SLO_BREACH, Kind.SLO_WARNING)
BEFORE_START = "before_start"  # asset -> the missed deadline its first tick found before the table existed
# Per-table state kept in the instance's key-value store (one entry per table), not in the cursor.
STORED_STATE = ("fresh", "breached", stale_reads.STATE, stale_reads.INPUTS)


@dataclass
class TableState:
    """One asset judged at one tick."""

    asset: str
    key: dg.AssetKey
    declaration: MLAsset
    deadline: datetime  # the latest deadline at or before now
    upcoming: datetime  # the next deadline
    fresh_at: float | None  # first materialization counting for ``deadline``
    upcoming_fresh_at: float | None
    dagster_state: str | None
    daemon_running: bool = True  # else ``dagster_state`` may be stale and is not used
    state: str = PASS

    @property
    def partition(self) -> str | None:
        return deadline_partition(self.declaration, self.deadline)

    @property
    def upcoming_partition(self) -> str | None:
        return deadline_partition(self.declaration, self.upcoming)


@dataclass
class TickResult:
    cursor: str
    states: dict[str, TableState]
    raised: list[Alert] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    summary: str = ""
    first_tick: bool = False  # no state yet: what already happened is history, not news
    history: list[str] = field(default_factory=list)  # tables that landed late before the first tick
    newest_landed: dict[str, float] = field(default_factory=dict)  # asset -> its newest materialization read this tick


def evaluate(tick: Tick, schedule_names: set[str] | None = None) -> Outcome:
    """Judge every declared table, raise and resolve its SLO incidents (breach, warning, at risk,
    stale read). ``schedule_names``: the code location's schedules (default: the repository's)."""
    if schedule_names is None:
        schedule_names = {s.name for s in tick.repository.schedule_defs} if tick.repository is not None else set()
    ledger, asset_graph, sink = tick.ledger, tick.asset_graph, tick.sink
    now = datetime.fromtimestamp(tick.now, timezone.utc)
    first_tick = "read" not in ledger.state and not ledger.state.get("fresh") and not ledger.state.get("breached")
    states, materializations = _judge(tick.instance, tick.declared, ledger, now)
    needy = [s for s in states.values() if _needs_alert(ledger, s)]
    causes = _Causes(tick.instance, asset_graph, states, needy, now, sink.ui_url, schedule_names)
    risk = AtRisk(tick.instance, asset_graph, states, now, sink.ui_url)
    if risk.watched:
        causes.watched |= risk.watched
        risk.refine(causes.runs())
    result = TickResult(cursor="", states=states, first_tick=first_tick,
                        newest_landed={m.asset: m.timestamp for m in materializations})
    for state in states.values():
        _transition(ledger, state, causes, sink.ui_url, result)
        risk.update(ledger, state, causes.find, partial(_slo_alert, ui_url=sink.ui_url), result)
    stale_reads.StaleReads(tick.instance, asset_graph, states, ledger, now, sink.ui_url).update(materializations, result)
    counts = {s: sum(1 for t in states.values() if t.state == s) for s in (PASS, WARN, FAIL)}
    result.summary = (
        f"{len(states)} tables: {counts[PASS]} pass, {counts[WARN]} warn, {counts[FAIL]} fail"
        + ("; freshness daemon not running: models judged on their materializations" if any(not t.daemon_running for t in states.values()) else "")
        + _history_note(result.history)
    )
    return Outcome(len(result.raised), len(result.resolved), summary=result.summary, result=result)


SLO_ALERTS = AlertSensor(
    name=SENSOR_NAME,
    kinds=(Kind.SLO_BREACH, Kind.SLO_WARNING, Kind.SLO_AT_RISK, Kind.SLO_STALE_READ),
    evaluate=evaluate,
    minimum_interval_seconds=30,
    stored_state=STORED_STATE,
    description="Alerts when a table misses (fatal) or is about to miss (warn) its SLO deadline, with the cause; resolves once.",
)


def evaluate_slo_tick(
    instance: dg.DagsterInstance,
    asset_graph: Any,
    cursor: str | None,
    sink: AlertSink,
    now: datetime,
    schedule_names: set[str] = frozenset(),
) -> TickResult:
    """One tick of the SLO sensor without a sensor context (the benchmark and the report use it)."""
    spec = replace(SLO_ALERTS, evaluate=partial(evaluate, schedule_names=set(schedule_names)))
    cursor, outcome, report = run_tick(spec, instance, asset_graph, cursor, sink, now.timestamp())
    result: TickResult = outcome.result
    result.cursor, result.summary = cursor, tick_line(outcome, report)
    return result


def _judge(
    instance, declared: dict[dg.AssetKey, MLAsset], ledger: AlertLedger, now: datetime
) -> tuple[dict[str, TableState], list[Materialization]]:
    """Every declared table's state, and the materializations read this tick (oldest first)."""
    by_asset = {key.to_user_string(): declaration for key, declaration in declared.items()}
    deadlines: dict[tuple[str, str], tuple[datetime, datetime]] = {}  # tables share deadlines: compute each once
    windows: dict[str, tuple[datetime, datetime]] = {}
    for asset, declaration in by_asset.items():
        slo = (declaration.slo.deadline_cron, declaration.slo.timezone)
        if slo not in deadlines:
            latest = latest_deadline(declaration, now)
            deadlines[slo] = (latest, next_deadline(declaration, latest))
        windows[asset] = deadlines[slo]
    known = ledger.state.get("fresh", {})
    # Only the two deadlines each table is judged on are kept (and only for declared tables).
    fresh = {a: {iso(d): known.get(a, {}).get(iso(d)) for d in windows[a]} for a in by_asset}

    earliest = min((window_start(by_asset[a], d) for a, (d, _) in windows.items()), default=now.timestamp())
    materializations, ledger.state["read"] = instance_reads.materializations_since(instance, ledger.state.get("read", {}), earliest, now.timestamp())
    for materialization in materializations:
        _record(fresh, by_asset, windows, materialization)
    # The cursor keeps only what was seen: a table with nothing yet for its deadlines costs nothing.
    ledger.state["fresh"] = {a: {d: t for d, t in f.items() if t is not None} for a, f in fresh.items() if any(f.values())}

    dagster_states = instance_reads.freshness_states(instance, list(declared))
    daemon_running = freshness_watchdog.daemon_health(instance, now.timestamp()).trusted
    states = {}
    for key, declaration in sorted(declared.items(), key=lambda item: item[0].to_user_string()):
        asset = key.to_user_string()
        deadline, upcoming = windows[asset]
        state = TableState(
            asset=asset,
            key=key,
            declaration=declaration,
            deadline=deadline,
            upcoming=upcoming,
            fresh_at=fresh[asset][iso(deadline)],
            upcoming_fresh_at=fresh[asset][iso(upcoming)],
            dagster_state=dagster_states.get(asset),
            daemon_running=daemon_running,
        )
        state.state = _decide(state, now)
        states[asset] = state
    return states, materializations


def _record(fresh, by_asset: dict[str, MLAsset], windows, materialization: Materialization) -> None:
    declaration = by_asset.get(materialization.asset)
    if declaration is None:
        return
    for deadline in windows[materialization.asset]:
        seen = fresh[materialization.asset][iso(deadline)]
        if counts_for(declaration, deadline, materialization) and (seen is None or materialization.timestamp < seen):
            fresh[materialization.asset][iso(deadline)] = materialization.timestamp


def _decide(state: TableState, now: datetime) -> str:
    if state.declaration.partition_column or not state.daemon_running or state.dagster_state not in (PASS, FAIL):
        missed = state.fresh_at is None
    else:
        missed = state.dagster_state == FAIL
    if missed:
        return FAIL
    margin = state.declaration.slo.warn_margin
    if margin is not None and now >= state.upcoming - margin and state.upcoming_fresh_at is None:
        return WARN
    return PASS


class _Causes:
    """Finds causes for the tables that raise a new alert this tick. Their planned runs and the
    schedule states are read once per tick, and only when some table needs a cause."""

    def __init__(self, instance, asset_graph, states: dict[str, TableState], needy: list[TableState], now: datetime, ui_url: str, schedule_names):
        self.instance, self.asset_graph, self.states, self.needy = instance, asset_graph, states, needy
        self.now, self.ui_url, self.schedule_names = now, ui_url, set(schedule_names)
        self.watched: set[str] = set()  # other tables whose runs are needed (at-risk predictions)
        self._runs: dict[str, instance_reads.RunInfo] | None = None
        self._stopped: set[str] | None = None
        self._errors: dict[str, str | None] = {}
        self._holds: dict[tuple[dg.AssetKey, str], list[Hold]] = {}

    def find(self, state: TableState, deadline: datetime) -> Cause:
        blocking = (FAIL,) if deadline == state.deadline else (FAIL, WARN)
        late_parents = [
            self.states[parent.to_user_string()]
            for parent in sorted(self.asset_graph.get(state.key).parent_keys)
            if parent.to_user_string() in self.states and self.states[parent.to_user_string()].state in blocking
        ]
        upstream = slo_causes.upstream_cause([(p.asset, self.find(p, p.deadline if p.state == FAIL else p.upcoming)) for p in late_parents])
        if upstream is not None:
            return upstream
        launcher = launch_sensor_name(state.declaration.product) if self.asset_graph.get(state.key).automation_condition is not None else None
        blocked = slo_causes.upstream_blocked_cause(state.declaration, state.asset, self.held_inputs(state, deadline), self.ui_url, launcher)
        if blocked is not None:
            return blocked
        run = slo_causes.relevant_run(state.declaration, deadline, self.runs().get(state.asset))
        if run is not None:
            message = self.failure_message(run.run_id) if run.status in slo_causes.FAILED else None
            return slo_causes.run_cause(state.declaration, run, self.now.timestamp(), self.ui_url, message)
        if launcher is not None:
            return slo_causes.no_run_cause(state.declaration, deadline, None, False, launcher=launcher)
        schedule = f"{state.declaration.product}_schedule"
        schedule = schedule if schedule in self.schedule_names else None
        return slo_causes.no_run_cause(state.declaration, deadline, schedule, schedule in self.stopped() if schedule else False)

    def held_inputs(self, state: TableState, deadline: datetime) -> list[tuple[str, str, Hold]]:
        """The declared inputs of the deadline's date that an ERROR check holds (one read per input with checks)."""
        partition = deadline_partition(state.declaration, deadline)
        found = []
        for parent in sorted(self.asset_graph.get(state.key).parent_keys):
            upstream = self.states.get(parent.to_user_string())
            if partition is None or upstream is None or not upstream.declaration.partition_column:
                continue
            if (parent, partition) not in self._holds:
                self._holds[(parent, partition)] = holds(self.instance, parent, upstream.declaration, partition)
            found += [(upstream.asset, partition, hold) for hold in self._holds[(parent, partition)]]
        return found

    def runs(self) -> dict[str, instance_reads.RunInfo]:
        if self._runs is None:
            # every late table, not only the needy ones: a cause may name an upstream's run
            keys = [s.key for s in self.states.values() if s.state != PASS or s.asset in self.watched]
            self._runs = instance_reads.last_planned_runs(self.instance, keys)
        return self._runs

    def stopped(self) -> set[str]:
        if self._stopped is None:
            self._stopped = instance_reads.stopped_schedules(self.instance)
        return self._stopped

    def failure_message(self, run_id: str) -> str | None:
        if run_id not in self._errors:
            self._errors[run_id] = instance_reads.run_failure_message(self.instance, run_id)
        return self._errors[run_id]


def _needs_alert(ledger: AlertLedger, state: TableState) -> bool:
    """Will this table raise a new incident this tick (so its cause must be found)?"""
    if state.state == PASS:
        return False
    kind, incident = (Kind.SLO_BREACH, iso(state.deadline)) if state.state == FAIL else (Kind.SLO_WARNING, iso(state.upcoming))
    return not any(a.asset == state.asset and a.kind == kind and a.incident == incident for a in ledger.open.values())


def _transition(ledger: AlertLedger, state: TableState, causes: _Causes, ui_url: str, result: TickResult) -> None:
    open_alerts = [a for a in ledger.open.values() if a.asset == state.asset and a.kind in SLO_KINDS]
    breaches = [a for a in open_alerts if a.kind == Kind.SLO_BREACH]
    warnings = [a for a in open_alerts if a.kind == Kind.SLO_WARNING]
    if state.state == FAIL:
        incident = iso(state.deadline)
        if any(a.incident == incident for a in breaches):
            return
        before_start = ledger.state.setdefault(BEFORE_START, {})
        if before_start.get(state.asset) == incident:
            return
        before_start.pop(state.asset, None)
        if result.first_tick and result.newest_landed.get(state.asset, 0.0) > state.deadline.timestamp():
            # The sensor's first tick, and the table landed only after this deadline (the quick
            # start's first run, a first deployment): the platform did not exist then. History.
            before_start[state.asset] = incident
            result.history.append(state.asset)
            return
        since = min((a.since for a in breaches if a.since), default=state.deadline.timestamp())
        for superseded in breaches + warnings:  # one open SLO incident per table: the newest
            ledger.open.pop(superseded.subject, None)
        alert = _breach_alert(state, causes.find(state, state.deadline), since, ui_url)
        ledger.raise_alert(alert)
        ledger.state.setdefault("breached", {})[state.asset] = incident
        result.raised.append(alert)
        return
    if not breaches and _arrived_unseen_late(ledger, state):
        ledger.state.setdefault("breached", {})[state.asset] = iso(state.deadline)
        if result.first_tick:
            # Landed late before the sensor ever ran (e.g. the quick start's first run after the
            # deadline, or a first deployment): history, summed up in the tick's line, not paged.
            result.history.append(state.asset)
        else:
            # Late, but fresh again before any tick saw it failing: still a breach (the consumer
            # read a stale table at the deadline). Raise it and resolve it at once.
            late = slo_causes.late_arrival_cause(state.declaration, state.deadline, state.fresh_at)
            alert = _breach_alert(state, late, state.deadline.timestamp(), ui_url)
            ledger.raise_alert(alert)
            result.raised.append(alert)
            breaches = [alert]
    for breach in breaches:
        ledger.resolve(breach.subject, _recovered_title(state, breach))
        result.resolved.append(breach.key)
    if state.state == WARN:
        incident = iso(state.upcoming)
        at_risk = [a for a in ledger.open.values() if a.asset == state.asset and a.kind == Kind.SLO_AT_RISK]
        if any(a.incident == incident for a in warnings + at_risk):  # already warned, by prediction or margin
            return
        alert = _warning_alert(state, causes.find(state, state.upcoming), ui_url, causes.now)
        ledger.raise_alert(alert)
        result.raised.append(alert)
        return
    for warning in warnings:
        ledger.resolve(warning.subject, f"SLO back on track: {state.asset} is fresh before its {local_time(state.declaration, from_iso(warning.incident))} deadline")
        result.resolved.append(warning.key)


def _history_note(history: list[str]) -> str:
    if not history:
        return ""
    shown = ", ".join(history[:5]) + (f" and {len(history) - 5} more" if len(history) > 5 else "")
    return f"; first tick: {len(history)} table(s) landed after their last deadline before this sensor ran, not alerted ({shown})"


def _arrived_unseen_late(ledger: AlertLedger, state: TableState) -> bool:
    return (
        state.fresh_at is not None
        and state.fresh_at > state.deadline.timestamp()
        and ledger.state.get("breached", {}).get(state.asset) != iso(state.deadline)
    )


def _breach_alert(state: TableState, cause: Cause, since: float, ui_url: str) -> Alert:
    declaration, deadline = state.declaration, state.deadline
    extra = [("window opened", local_time(declaration, utc(window_start(declaration, deadline))))]
    return _slo_alert(
        Kind.SLO_BREACH, Severity.FATAL, state, state.partition, deadline, cause, since, ui_url,
        title=f"SLO breach: {state.asset} missed its {local_time(declaration, deadline)} deadline — {cause.text}",
        extra=extra,
        trailing=[("Dagster freshness", _dagster_freshness(state))],
    )


def _dagster_freshness(state: TableState) -> str:
    shown = state.dagster_state or "not evaluated"
    return shown if state.daemon_running else f"{shown} (not used: freshness daemon not running)"


def _warning_alert(state: TableState, cause: Cause, ui_url: str, now: datetime) -> Alert:
    deadline = state.upcoming
    minutes = int((deadline - now).total_seconds() // 60)
    return _slo_alert(
        Kind.SLO_WARNING, Severity.WARN, state, state.upcoming_partition, deadline, cause, now.timestamp(), ui_url,
        title=f"SLO at risk: {state.asset} is not fresh {minutes} min before its {local_time(state.declaration, deadline)} deadline — {cause.text}",
    )


def _slo_alert(
    kind: Kind, severity: Severity, state: TableState, partition: str | None, deadline: datetime, cause: Cause,
    since: float, ui_url: str, title: str, extra=(), trailing=(),
) -> Alert:
    """One SLO incident per (table, deadline); details read deadline, cause, why, ..., partition, run."""
    declaration = state.declaration
    details = [("deadline", local_time(declaration, deadline)), ("cause", cause.kind), ("why", cause.text), *extra]
    if partition:
        details.append(("partition", partition))
    if cause.run_link:
        details.append(("run", cause.run_link))
    if cause.checks_link:
        details.append(("input checks", cause.checks_link))
    return Alert(
        kind=kind,
        severity=severity,
        title=title,
        asset=state.asset,
        partition=partition,
        incident=iso(deadline),
        owner=declaration.owner,
        channel=declaration.alert_channel,
        since=since,
        run_id=cause.run_id,
        link=asset_url(ui_url, state.key),
        details=(*details, *trailing),
    )


def _recovered_title(state: TableState, breach: Alert) -> str:
    missed = from_iso(breach.incident)
    if missed == state.deadline and state.fresh_at is not None:
        late = _minutes(state.fresh_at - missed.timestamp())
        return f"SLO recovered: {state.asset} materialized at {local_time(state.declaration, utc(state.fresh_at))}, {late} after its {local_time(state.declaration, missed)} deadline"
    return f"SLO recovered: {state.asset} is fresh for its {local_time(state.declaration, state.deadline)} deadline (missed {local_time(state.declaration, missed)})"




def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes} min"


slo_alerts_sensor = alert_sensor(SLO_ALERTS)
