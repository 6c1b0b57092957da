"""Alerts for failed data-quality checks: one incident per (table, partition), resolved when that
partition's checks pass again. The monitoring checks of a table's newest partitions (drift,
coverage) get one incident per table instead (``monitoring_incidents``).

A non-blocking ERROR or a WARN leaves the run green, and a blocked consumer is only a skipped
step: without this sensor nobody hears of either. The message names the tables the failure holds
(an ERROR on a blocking check: the gate and the launch on data wait for it) or that still read it
(a WARN holds nobody, ``checks.holds``). Each tick reads the check evaluations completed
since its cursor (a storage id), across every check, in one storage call per page: a check still
running has written no evaluation yet, so it neither opens nor resolves anything. Per
(table, partition) it keeps the open incident's failing checks and severities: a new failing
check or a WARN that becomes an ERROR alerts again; the incident resolves once every check it
named has passed on the same partition. When a backfill makes many partitions of one table fail
(or pass) in one tick, one grouped message lists them.
"""

from dataclasses import dataclass
from typing import Any, Mapping

import dagster as dg

from ml_platform import instance_reads
from ml_platform.alerting import Alert, AlertLedger, Kind, Severity
from ml_platform.alerting.links import asset_url
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick, alert_sensor
from ml_platform.checks.holds import blocking_checks
from ml_platform.checks.monitoring_incidents import NEWEST, evaluate_monitoring_incidents, split_newest
from ml_platform.checks.row_count import CHANGE_CHECK
from ml_platform.declaration import MLAsset

SENSOR_NAME = "data_quality_alerts"
ROW_COUNTS_SHOWN = 7
INITIAL_LOOKBACK_SECONDS = 24 * 3600.0  # a sensor without a cursor reads evaluations this recent
GROUP_AT = 4  # this many partitions of one table changing in one tick share one message


@dataclass(frozen=True)
class Evaluation:
    """One completed evaluation of one check on one partition."""

    asset_key: dg.AssetKey
    check: str
    partition: str | None
    passed: bool
    severity: Severity
    summary: str
    metadata: Mapping[str, Any]
    run_id: str


def evaluations_since(
    instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey], cursor: dict, after_timestamp: float, now: float
) -> tuple[list[Evaluation], dict]:
    """Completed evaluations of ``check_keys`` after the cursor, oldest first, and the new cursor."""
    wanted = set(check_keys)
    read, cursor = instance_reads.check_evaluations_since(instance, cursor, after_timestamp, now)
    found = []
    for run_id, evaluation in read:
        if dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name) not in wanted:
            continue
        metadata = {name: getattr(value, "value", value) for name, value in evaluation.metadata.items()}
        found.append(
            Evaluation(
                asset_key=evaluation.asset_key,
                check=evaluation.check_name,
                partition=evaluation.partition or metadata.get("partition"),
                passed=evaluation.passed,
                severity=Severity.WARN if evaluation.severity == dg.AssetCheckSeverity.WARN else Severity.ERROR,
                summary=evaluation.description or metadata.get("summary", ""),
                metadata=metadata,
                run_id=run_id,
            )
        )
    return found, cursor


def row_counts_line(evaluations: list[Evaluation]) -> str | None:
    """'2026-03-03: 7000, …, 2026-03-10: 4000 (now)' from the row_count_change metadata."""
    change = next((e for e in evaluations if e.check == CHANGE_CHECK and isinstance(e.metadata.get("history"), dict)), None)
    if change is None:
        return None
    counts = [f"{p}: {n}" for p, n in list(change.metadata["history"].items())[-ROW_COUNTS_SHOWN:]]
    if "rows" in change.metadata:
        counts.append(f"{change.partition or 'now'}: {change.metadata['rows']} (now)")
    return ", ".join(counts)


def incident_alert(
    key: dg.AssetKey, partition: str | None, failed: list[Evaluation], same_partition: list[Evaluation], declaration: MLAsset, ui_url: str,
    consumers: list[str] = (),
) -> Alert:
    failed = sorted(failed, key=lambda e: e.check)
    severity = Severity.ERROR if any(e.severity == Severity.ERROR for e in failed) else Severity.WARN
    names = ", ".join(f"{e.check} ({e.severity.value})" for e in failed)
    details = [("Failed checks", names), ("Owner", declaration.owner)]
    counts = row_counts_line(same_partition)
    if counts:
        details.append(("Last row counts", counts))
    blocked = any(e.severity == Severity.ERROR and e.check in blocking_checks(declaration) for e in failed)  # checks.holds
    gate = held_consumers_text(blocked, consumers)
    if consumers:
        details.append(("Held consumers" if blocked else "Consumers", ", ".join(consumers)))
    return Alert(
        kind=Kind.DATA_QUALITY,
        severity=severity,
        title=f"{key.to_user_string()} {partition or ''}: {names} failed; {gate}".replace("  ", " "),
        asset=key.to_user_string(),
        partition=partition,
        incident=",".join(f"{e.check}:{e.severity.value}" for e in failed),
        owner=declaration.owner,
        channel=declaration.alert_channel,
        run_id=failed[0].run_id,
        link=asset_url(ui_url, key, view="checks"),
        details=tuple(details),
        text="\n".join(f"{e.check}: {e.summary}" for e in failed),
    )


def held_consumers_text(blocked: bool, consumers: list[str]) -> str:
    """Which of the code location's tables the failure holds (a WARN, or an ERROR of a check that
    blocks nothing, holds none): the launch on data and the gate wait for it to pass."""
    if not blocked:
        return "consumers still read it" + (f" ({', '.join(consumers)})" if consumers else "")
    return f"holds {', '.join(consumers)} until it passes" if consumers else "no table here reads it"


def _failing(alert: Alert | None) -> dict[str, Severity]:
    """The failing checks an open incident names, from its incident string 'check:severity,…'."""
    if alert is None:
        return {}
    return {check: Severity(severity) for check, severity in (pair.split(":") for pair in alert.incident.split(",") if pair)}


def _subject(key: dg.AssetKey, partition: str | None) -> str:
    return Alert(kind=Kind.DATA_QUALITY, severity=Severity.ERROR, title="", asset=key.to_user_string(), partition=partition).subject


def evaluate_quality_alerts(
    ledger: AlertLedger, evaluations: list[Evaluation], tables: Mapping[dg.AssetKey, MLAsset], ui_url: str,
    consumers: Mapping[dg.AssetKey, list[str]] | None = None,
) -> tuple[int, int]:
    """Apply the evaluations completed since the last tick (oldest first) to the per-(table,
    partition) incidents. Returns (raised, resolved). ``consumers``: the declared tables that read each table."""
    consumers = consumers or {}
    latest: dict[tuple[dg.AssetKey, str | None], dict[str, Evaluation]] = {}
    for evaluation in evaluations:
        latest.setdefault((evaluation.asset_key, evaluation.partition), {})[evaluation.check] = evaluation
    raised: dict[dg.AssetKey, list[Alert]] = {}
    resolved: dict[dg.AssetKey, list[str]] = {}
    for (key, partition), checks in sorted(latest.items(), key=lambda item: (item[0][0].to_user_string(), item[0][1] or "")):
        subject = _subject(key, partition)
        current = ledger.open.get(subject)
        before = _failing(current)
        failing = {check: severity for check, severity in before.items() if check not in checks}
        failing.update({check: e.severity for check, e in checks.items() if not e.passed})
        if not failing:
            if current is not None:
                resolved.setdefault(key, []).append(subject)
            continue
        carried = [Evaluation(key, c, partition, False, failing[c], "", {}, current.run_id or "") for c in failing if c not in checks]
        failed = [e for e in checks.values() if not e.passed] + carried
        alert = incident_alert(key, partition, failed, list(checks.values()), tables[key], ui_url, consumers.get(key, []))
        if current is not None and failing.items() <= before.items():
            ledger.open[subject] = alert  # fewer checks fail: the same incident, no new message
        else:
            raised.setdefault(key, []).append(alert)
    for key, alerts in raised.items():
        grouped = len(alerts) >= GROUP_AT
        for alert in alerts:
            ledger.raise_alert(alert, notify=not grouped)
        if grouped:
            ledger.notify(grouped_alert(key, alerts, tables[key], ui_url))
    for key, subjects in resolved.items():
        grouped = len(subjects) >= GROUP_AT
        closed = [ledger.open[s] for s in subjects]
        for alert in closed:
            checks = ", ".join(_failing(alert))
            ledger.resolve(alert.subject, f"{alert.asset} {alert.partition or ''}: {checks} pass again".replace("  ", " "), notify=not grouped)
        if grouped:
            ledger.notify(grouped_alert(key, closed, tables[key], ui_url).resolution(
                f"{key.to_user_string()}: checks pass again on {len(closed)} partitions ({_span(closed)})"
            ))
    return sum(len(a) for a in raised.values()), sum(len(s) for s in resolved.values())


def _span(alerts: list[Alert]) -> str:
    partitions = sorted(a.partition or "-" for a in alerts)
    return partitions[0] if len(partitions) == 1 else f"{partitions[0]} … {partitions[-1]}"


def grouped_alert(key: dg.AssetKey, alerts: list[Alert], declaration: MLAsset, ui_url: str) -> Alert:
    """One message for many partitions of one table (a backfill): which partitions, which checks."""
    severity = Severity.ERROR if any(a.severity == Severity.ERROR for a in alerts) else Severity.WARN
    checks = sorted({check for a in alerts for check in _failing(a)})
    partitions = sorted(a.partition or "-" for a in alerts)
    return Alert(
        kind=Kind.DATA_QUALITY,
        severity=severity,
        title=f"{key.to_user_string()}: checks failed on {len(alerts)} partitions ({_span(alerts)})",
        asset=key.to_user_string(),
        incident="group:" + ",".join(partitions),
        owner=declaration.owner,
        channel=declaration.alert_channel,
        link=asset_url(ui_url, key, view="checks"),
        details=(("Partitions", ", ".join(partitions)), ("Failed checks", ", ".join(checks)), ("Owner", declaration.owner)),
    )


def evaluate(tick: Tick) -> Outcome:
    ledger, graph, declared = tick.ledger, tick.asset_graph, tick.declared
    tables = {key: d for key, d in declared.items() if d.expectations is not None}
    check_keys = [k for k in graph.asset_check_keys if k.asset_key in tables]
    evaluations, ledger.state["checks"] = evaluations_since(
        tick.instance, check_keys, ledger.state.get("checks", {}), tick.now - INITIAL_LOOKBACK_SECONDS, tick.now
    )
    consumers = {key: sorted(c.to_user_string() for c in graph.get(key).child_keys if c in declared) for key in tables}
    newest, others = split_newest(ledger, evaluations, tables)  # drift / coverage: one incident per table
    raised, resolved = evaluate_quality_alerts(ledger, others, tables, tick.sink.ui_url, consumers)
    lasting_raised, lasting_resolved = evaluate_monitoring_incidents(ledger, newest, tables, tick.sink.ui_url)
    open_count = len(ledger.open_alerts(Kind.DATA_QUALITY)) + len(ledger.open_alerts(Kind.PREDICTION_MONITORING))
    return Outcome(raised + lasting_raised, resolved + lasting_resolved, summary=f"{open_count} open data-quality incident(s)")


DATA_QUALITY_ALERTS = AlertSensor(
    name=SENSOR_NAME,
    kinds=(Kind.DATA_QUALITY, Kind.PREDICTION_MONITORING),
    evaluate=evaluate,
    stored_state=(NEWEST,),
    description="Alerts on failed data-quality checks of declared tables, once per table and partition.",
)
data_quality_alerts = alert_sensor(DATA_QUALITY_ALERTS)
