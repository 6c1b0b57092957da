"""Self-monitoring: one alert when a sensor of this code location fails its ticks, one when it recovers.

Open-source Dagster shows a failing sensor only in the UI (no alert, upstream issue #29625), so a
broken SLO or data-quality sensor would fail silently. Each tick makes two storage calls, however
many sensors there are: the instigator states, then the latest ticks of all our sensors at once.
A sensor that keeps failing alerts once (incident: its first failed tick seen); a successful or
skipped tick resolves it. Dagster's freshness daemon is watched the same way (one more call, its
heartbeat): one alert while it is not running, one when it is back. And every alert another
sensor's ledger moved to its dead letters (Slack refused it for good) is reported once (one
more call: the dead letters of all sensors of this location, from the key-value store).
"""

from collections.abc import Callable

import dagster as dg

from ml_platform import freshness_watchdog, instance_reads
from ml_platform.alerting import Alert, AlertSink, Kind, Severity
from ml_platform.alerting.alert import kind_name
from ml_platform.alerting.failure_content import summarize
from ml_platform.alerting.ledger_store import peek
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick, alert_sensor

# Tick statuses compared by value: their enum lives in dagster._core.scheduler.
FAILED, IN_PROGRESS = "FAILURE", "STARTED"
FRESHNESS_DAEMON = "freshness_daemon"  # the watchdog alert's source


def evaluate(tick: Tick) -> Outcome:
    ledger = tick.ledger
    raised = resolved = 0
    for sensor_name, latest in _latest_ticks(tick).items():
        alert = _failure_alert(sensor_name, latest, tick.location, tick.sink)
        if latest.status.value == FAILED:
            if alert.subject not in ledger.open:  # still the same incident while it keeps failing
                raised += ledger.raise_alert(alert)
        else:
            resolved += ledger.resolve(alert.subject, f"Sensor {sensor_name} ticks again", since=latest.timestamp, details=())
    daemon_raised, daemon_resolved = _check_freshness_daemon(tick)
    dead_raised = _report_dead_letters(tick)
    return Outcome(raised + daemon_raised + dead_raised, resolved + daemon_resolved)


SENSOR_HEALTH_ALERTS = AlertSensor(
    name="sensor_health_alerts",
    kinds=(Kind.SENSOR_FAILURE,),
    evaluate=evaluate,
    description="Alerts once when any sensor of this code location fails its ticks, and when it recovers.",
)


def build_sensor_health_sensor(
    name: str = SENSOR_HEALTH_ALERTS.name,
    minimum_interval_seconds: int = SENSOR_HEALTH_ALERTS.minimum_interval_seconds,
    clock: Callable[[], float] | None = None,
) -> dg.SensorDefinition:
    return alert_sensor(SENSOR_HEALTH_ALERTS, name=name, minimum_interval_seconds=minimum_interval_seconds, clock=clock)


def _latest_ticks(tick: Tick) -> dict:
    """The latest finished tick of every sensor of this code location, by sensor name."""
    names, location = {sensor.name for sensor in tick.repository.sensor_defs}, tick.location
    states = [
        state
        for state in instance_reads.sensor_states(tick.instance)
        if state.name in names
        and (location is None or state.origin.repository_origin.code_location_origin.location_name == location)
    ]
    # Two per sensor: the newest may be a tick still in progress (e.g. this sensor's own).
    ticks = tick.instance.get_batch_ticks([state.selector_id for state in states], limit=2)
    latest = {}
    for state in states:
        finished = [t for t in ticks.get(state.selector_id, []) if t.status.value != IN_PROGRESS]
        if finished:
            latest[state.name] = finished[0]
    return latest


def _check_freshness_daemon(tick: Tick) -> tuple[int, int]:
    """One alert while the freshness daemon is not running (while this location declares freshness
    policies): the SLO sensor then judges models on their materializations. (raised, resolved)"""
    if not any(node.freshness_policy for node in tick.asset_graph.asset_nodes):
        return 0, 0
    ledger, now = tick.ledger, tick.now
    health = freshness_watchdog.daemon_health(tick.instance, now)
    subject = Alert(kind=Kind.SENSOR_FAILURE, severity=Severity.ERROR, title="", source=FRESHNESS_DAEMON).subject
    if health.problem is None:
        return 0, int(ledger.resolve(subject, "Freshness daemon running again: SLO sensor uses its states", details=()))
    if subject in ledger.open:  # one incident until it runs again
        return 0, 0
    alert = Alert(
        kind=Kind.SENSOR_FAILURE,
        severity=Severity.ERROR,
        title="Freshness daemon not running: SLO sensor judges models on their materializations",
        source=FRESHNESS_DAEMON,
        incident=str(health.last_heartbeat or "never"),
        since=health.last_heartbeat or now,
        details=(("Daemon", "dagster-daemon FRESHNESS_DAEMON"), ("Why", health.problem)),
    )
    return int(ledger.raise_alert(alert)), 0


def _report_dead_letters(tick: Tick) -> int:
    """One alert per dead letter of another sensor of this location (its own are not reported:
    a report Slack refuses must not report itself). Closed silently once the dead letter is gone."""
    ledger = tick.ledger
    names = sorted(s.name for s in tick.repository.sensor_defs if s.name != tick.sensor_name)
    dead = peek(tick.instance, names, "dead")
    current = set()
    raised = 0
    for sensor_name, letters in dead.items():
        for entry_id, data in letters.items():
            refused = Alert.from_dict(data)
            alert = Alert(
                kind=Kind.SENSOR_FAILURE,
                severity=Severity.ERROR,
                title=" ".join(f"Slack refused an alert of {sensor_name} for good: {kind_name(refused.kind)} {refused.asset or ''} {refused.partition or ''}".split()),
                source=f"{sensor_name}/dead/{entry_id}",
                incident=refused.key,
                since=refused.since,
                details=(("Sensor", sensor_name), ("Alert", refused.key), ("Severity", refused.severity.value), ("Its title", refused.title[:300])),
            )
            current.add(alert.subject)
            raised += ledger.raise_alert(alert)
    for subject in [s for s, a in ledger.open.items() if "/dead/" in (a.source or "") and s not in current]:
        ledger.resolve(subject, "", notify=False)
    return raised


def _failure_alert(sensor_name: str, tick, location: str | None, sink: AlertSink) -> Alert:
    summary = summarize(tick.error) if tick.error is not None else None
    return Alert(
        kind=Kind.SENSOR_FAILURE,
        severity=Severity.ERROR,
        title=f"Sensor {sensor_name} is failing",
        source=sensor_name,
        incident=str(tick.tick_id),
        since=tick.timestamp,
        link=sink.sensor_url(sensor_name, location) if location else None,
        details=(("Sensor", sensor_name), ("Error", summary.headline if summary else "tick failed without an error")),
        text=summary.traceback_tail if summary else "",
    )


sensor_health_alerts = alert_sensor(SENSOR_HEALTH_ALERTS)
