"""Incidents of the monitoring checks (``prediction_drift``, ``prediction_coverage``): one per table,
following its newest partition. Evaluated by the ``data_quality_alerts`` sensor, in the same tick
and from the same read as the other checks.

A drift or coverage failure usually lasts (a broken feature, a slow creep), so it is one incident
per table, not one per partition: it opens with the first failing partition, stays open without a
new message while newer partitions fail the same checks at the same or a lower severity, alerts
again when another check fails or a WARN becomes an ERROR, and resolves with one RESOLVED message
when a newer partition passes them all. A result that judged nothing (too few rows, no reference
yet: ``judged`` False) is no news: it neither opens nor resolves. An evaluation of an older partition than the newest seen (a
re-run, a backfill) is about that partition only: it gets the per-partition incident the other
data-quality checks get. The newest partition seen per table is kept in the ledger's store.
"""

from typing import Mapping

import dagster as dg

from ml_platform.alerting import Alert, AlertLedger, Kind, Severity
from ml_platform.alerting.links import asset_url
from ml_platform.checks.prediction_monitoring import blocking_monitoring_checks, monitoring_check_names
from ml_platform.declaration import MLAsset
from ml_platform.monitoring.assess import JUDGED

NEWEST = "monitoring_newest"  # ledger state table (in the store): table -> newest partition evaluated
RANK = {Severity.WARN: 1, Severity.ERROR: 2}


def split_newest(ledger: AlertLedger, evaluations: list, tables: Mapping[dg.AssetKey, MLAsset]) -> tuple[list, list]:
    """(monitoring evaluations of each table's newest partition, every other evaluation), in order."""
    newest: dict[str, str] = ledger.state.setdefault(NEWEST, {})
    lasting, others = [], []
    for evaluation in evaluations:
        declaration = tables.get(evaluation.asset_key)
        asset = evaluation.asset_key.to_user_string()
        if declaration is None or evaluation.partition is None or evaluation.check not in monitoring_check_names(declaration):
            others.append(evaluation)
        elif evaluation.partition >= newest.get(asset, ""):
            newest[asset] = evaluation.partition
            lasting.append(evaluation)
        else:
            others.append(evaluation)
    return lasting, others


def subject(key: dg.AssetKey) -> str:
    return Alert(kind=Kind.PREDICTION_MONITORING, severity=Severity.WARN, title="", asset=key.to_user_string()).subject


def _failing(alert: Alert | None) -> dict[str, Severity]:
    if alert is None:
        return {}
    return {check: Severity(severity) for check, severity in (pair.split(":") for pair in alert.incident.split(",") if pair)}


def evaluate_monitoring_incidents(
    ledger: AlertLedger, evaluations: list, tables: Mapping[dg.AssetKey, MLAsset], ui_url: str
) -> tuple[int, int]:
    """Apply the newest-partition monitoring evaluations (from ``split_newest``). Returns (raised, resolved)."""
    by_table: dict[dg.AssetKey, dict[str, dict]] = {}
    for evaluation in evaluations:
        by_table.setdefault(evaluation.asset_key, {}).setdefault(evaluation.partition, {})[evaluation.check] = evaluation
    raised = resolved = 0
    for key, partitions in by_table.items():
        for partition in sorted(partitions):
            checks = {c: e for c, e in partitions[partition].items() if e.metadata.get(JUDGED, True) is not False}
            if not checks:
                continue  # nothing judged (too few rows, no reference yet): no news about the incident
            current = ledger.open.get(subject(key))
            before = _failing(current)
            failing = {c: s for c, s in before.items() if c not in checks}  # not re-evaluated: still failing
            failing.update({c: e.severity for c, e in checks.items() if not e.passed})
            if not failing:
                if current is not None:
                    since = dict(current.details).get("Failing since", "?")
                    title = f"{key.to_user_string()} {partition}: {', '.join(before)} pass again (failing since {since})"
                    resolved += ledger.resolve(current.subject, title)
                continue
            worse = any(RANK[s] > RANK.get(before.get(c), 0) for c, s in failing.items())
            kept = {c: max(s, before.get(c, s), key=RANK.__getitem__) for c, s in failing.items()}  # never downgraded while open
            since = dict(current.details).get("Failing since", partition) if current is not None else partition
            alert = incident_alert(key, partition, since, kept, checks, tables[key], ui_url)
            if current is None or worse:
                raised += ledger.raise_alert(alert)
            else:
                ledger.open[alert.subject] = alert  # the same incident, a newer partition: no new message
    return raised, resolved


def incident_alert(
    key: dg.AssetKey, partition: str, since: str, failing: dict[str, Severity], checks: dict, declaration: MLAsset, ui_url: str
) -> Alert:
    severity = Severity.ERROR if Severity.ERROR in failing.values() else Severity.WARN
    names = ", ".join(f"{c} ({s.value})" for c, s in sorted(failing.items()))
    lasting = f"failing since {since}" if since != partition else "first failing partition"
    blocked = any(s == Severity.ERROR and c in blocking_monitoring_checks(declaration) for c, s in failing.items())
    gate = "downstream consumers are blocked" if blocked else "consumers still read it"
    return Alert(
        kind=Kind.PREDICTION_MONITORING,
        severity=severity,
        title=f"{key.to_user_string()} {partition}: {names} failed ({lasting}); {gate}",
        asset=key.to_user_string(),
        incident=",".join(f"{c}:{s.value}" for c, s in sorted(failing.items())),
        owner=declaration.owner,
        channel=declaration.alert_channel,
        run_id=next((e.run_id for e in checks.values() if not e.passed), None),
        link=asset_url(ui_url, key, view="checks"),
        details=(("Latest partition", partition), ("Failing since", since), ("Failed checks", names), ("Owner", declaration.owner)),
        text="\n".join(f"{c}: {e.summary}" for c, e in sorted(checks.items()) if not e.passed),
    )
