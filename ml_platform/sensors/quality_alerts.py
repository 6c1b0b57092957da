"""Alerts for failed data-quality checks: one per table and partition, resolved when the checks
pass again.

A non-blocking ERROR or a WARN leaves the run green, and a blocked consumer is only a skipped
step: without this sensor nobody hears of either. Each tick reads the latest evaluation of every
quality check on a declared table in ONE storage call, raises an alert per (table, partition)
with failing checks (its incident is the set of failing checks and severities, so a WARN that
becomes an ERROR alerts again), and resolves an open incident once every check it named has
passed since. The alert ledger (dedup, resolution, undelivered backlog) lives in the cursor.
"""

import time
from dataclasses import dataclass
from typing import Any, Mapping

import dagster as dg

from ml_platform.alerting import Alert, AlertLedger, AlertSink, Kind, Severity
from ml_platform.alerting.links import asset_url
from ml_platform.checks.row_count import CHANGE_CHECK
from ml_platform.declaration import MLAsset, declarations

SENSOR_NAME = "data_quality_alerts"
ROW_COUNTS_SHOWN = 7


@dataclass(frozen=True)
class Evaluation:
    """The latest completed evaluation of one check."""

    asset_key: dg.AssetKey
    check: str
    partition: str | None
    passed: bool
    severity: Severity
    summary: str
    metadata: Mapping[str, Any]
    run_id: str


def latest_evaluations(instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey]) -> list[Evaluation]:
    """One query for the latest execution of every check; checks still running are left out."""
    wanted = set(check_keys)
    # The event log storage's batched read (one query for all keys); the instance has no public
    # batch API for check executions, and get_asset_check_summary_records queries once per key.
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    found = []
    for key, record in records.items():
        evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event else None
        if key not in wanted or not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue  # planned (in progress) or never finished
        metadata = {name: getattr(value, "value", value) for name, value in evaluation.metadata.items()}
        found.append(
            Evaluation(
                asset_key=key.asset_key,
                check=key.name,
                partition=record.partition or metadata.get("partition"),
                passed=evaluation.passed,
                severity=Severity.WARN if evaluation.severity == dg.AssetCheckSeverity.WARN else Severity.ERROR,
                summary=evaluation.description or metadata.get("summary", ""),
                metadata=metadata,
                run_id=record.run_id,
            )
        )
    return found


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
    key: dg.AssetKey, partition: str | None, failed: list[Evaluation], same_partition: list[Evaluation], declaration: MLAsset, ui_url: str
) -> Alert:
    failed = sorted(failed, key=lambda e: e.check)
    severity = Severity.ERROR if any(e.severity == Severity.ERROR for e in failed) else Severity.WARN
    names = ", ".join(f"{e.check} ({e.severity.value})" for e in failed)
    details = [("Failed checks", names), ("Owner", declaration.owner)]
    counts = row_counts_line(same_partition)
    if counts:
        details.append(("Last row counts", counts))
    gate = "downstream consumers are blocked" if severity == Severity.ERROR else "consumers still read it"
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


def evaluate_quality_alerts(ledger: AlertLedger, evaluations: list[Evaluation], tables: Mapping[dg.AssetKey, MLAsset], ui_url: str) -> None:
    """Raise one alert per (table, partition) with failing checks; resolve incidents whose checks pass."""
    by_subject: dict[tuple[dg.AssetKey, str | None], list[Evaluation]] = {}
    for evaluation in evaluations:
        by_subject.setdefault((evaluation.asset_key, evaluation.partition), []).append(evaluation)
    for (key, partition), group in sorted(by_subject.items(), key=lambda item: (item[0][0].to_user_string(), item[0][1] or "")):
        failed = [e for e in group if not e.passed]
        if failed:
            ledger.raise_alert(incident_alert(key, partition, failed, group, tables[key], ui_url))

    latest = {(e.asset_key.to_user_string(), e.check): e for e in evaluations}
    for alert in ledger.open_alerts(Kind.DATA_QUALITY):
        checks = [pair.split(":")[0] for pair in alert.incident.split(",") if pair]
        now = [latest.get((alert.asset, check)) for check in checks]
        if all(e is not None and e.passed for e in now):
            where = sorted({e.partition or "-" for e in now})
            ledger.resolve(alert.subject, f"{alert.asset} {alert.partition or ''}: {', '.join(checks)} pass again (latest: {', '.join(where)})")


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on failed data-quality checks of declared tables, once per table and partition.",
)
def data_quality_alerts(context: dg.SensorEvaluationContext, alert_sink: AlertSink):
    ledger = AlertLedger.from_cursor(context.cursor)
    graph = context.repository_def.asset_graph
    tables = {key: d for key, d in declarations(graph).items() if d.expectations is not None}
    check_keys = sorted((k for k in graph.asset_check_keys if k.asset_key in tables), key=lambda k: k.to_user_string())
    evaluate_quality_alerts(ledger, latest_evaluations(context.instance, check_keys), tables, alert_sink.ui_url)
    report = ledger.deliver(alert_sink, time.time())
    context.update_cursor(ledger.to_cursor())
    open_count = len(ledger.open_alerts(Kind.DATA_QUALITY))
    status = f"{open_count} open data-quality incident(s); delivered {len(report.delivered)}, backlog {report.backlog}"
    return dg.SkipReason(status + (f"; delivery failed: {report.failed}" if report.failed else ""))
