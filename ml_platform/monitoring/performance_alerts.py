"""Delayed-label performance: when a label table's partition D lands, the declared metric of the
predictions of D, recorded as an ``AssetObservation`` on the prediction table's partition D.

The prediction asset is not re-run and its partition stays as it is: the sensor reads D's
predictions and D's labels from the warehouse (``window_reader``, one query each), joins them on
the entity column and computes ``auc``, ``precision_at_k``, ``ctr`` or the declared callable.
Each tick reads the label materializations completed since its cursor across every asset in one
storage call per page (``instance_reads.materializations_since``), so labels that land three days
late are picked up when they land, whatever day that is.

Per prediction table the ledger's store keeps the metric and its standard error per partition (the
last ``KEPT`` partitions; the cursor stays small). A
table alerts (one incident per table, naming the partition) when its newest metric is below the
declared floor or fell more than ``max_decay`` over ``decay_window`` partitions, and the incident
resolves when a newer partition is healthy again. Labels of an older partition (corrected, or
landing out of order) re-evaluate that partition: below the floor, it gets its own incident,
resolved when its labels bring it back above.
"""

import json
from datetime import datetime, timezone
from typing import Mapping

import dagster as dg

from ml_platform import instance_reads
from ml_platform.alerting import Alert, AlertLedger, Kind, Severity
from ml_platform.alerting.links import asset_url
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick, alert_sensor
from ml_platform.checks.prediction_monitoring import monitoring_of
from ml_platform.declaration import MLAsset
from ml_platform.monitoring.performance import compute_metric, evidence_z, performance_problem, standard_error
from ml_platform.monitoring.settings import Monitoring

SENSOR_NAME = "delayed_label_performance"
INITIAL_LOOKBACK_SECONDS = 24 * 3600.0
KEPT = 60  # partitions of metric history kept per table in the cursor
PENDING_MAX = 200  # label partitions whose predictions are not written yet, retried on later ticks
METRIC_KEY = "ml_platform/performance"  # observation metadata: the metric's value
PERFORMANCE = "performance"  # ledger state (in the instance's key-value store): table -> partition -> [value, standard error]


def label_watchers(declared: Mapping[dg.AssetKey, MLAsset]) -> dict[str, list[tuple[dg.AssetKey, MLAsset, Monitoring]]]:
    """Label table (user string) -> the prediction tables that declared it."""
    watchers: dict[str, list] = {}
    for key, declaration in declared.items():
        settings = monitoring_of(declaration)
        if settings is not None and settings.label_table:
            watchers.setdefault(settings.label_table, []).append((key, declaration, settings))
    return watchers


def measure(reader, key: dg.AssetKey, declaration: MLAsset, settings: Monitoring, label_declaration: MLAsset, partition: str) -> dict | None:
    """The metric of ``partition``'s predictions against its labels; None when either is missing.

    Rows join on the entity and, for a top-k table, the item: a label says whether this user took
    this item. ``precision_at_k`` on a top-k table is per user, over that user's own k best rows
    (an item without a label row counts as not taken), averaged over the users the labels observed."""
    entity, score, label = settings.entity_column, declaration.expectations.score_column, settings.label_column
    keys = [entity, *([settings.item_column] if settings.item_column else [])]
    predictions = reader.read(key, declaration.partition_column, partition, partition, columns=[*keys, score])
    labels = reader.read(dg.AssetKey.from_user_string(settings.label_table), label_declaration.partition_column, partition, partition, columns=[*keys, label])
    if predictions.empty or labels.empty:
        return None
    labels = labels.drop_duplicates(keys)
    per_user = settings.item_column is not None and settings.metric_function() == "precision_at_k"
    if per_user:
        joined = predictions[predictions[entity].isin(labels[entity])].merge(labels, on=keys, how="left")
        joined[label] = joined[label].fillna(0)
    else:
        joined = predictions.merge(labels, on=keys, how="inner")
    groups = joined[entity].to_numpy() if per_user else None
    metric = settings.metric_function()
    value = compute_metric(metric, joined[label].to_numpy(), joined[score].to_numpy(), settings.k, groups)
    lists = joined[entity].nunique() if per_user else None
    error = standard_error(metric, value, len(joined), int((joined[label] > 0).sum()), lists)
    return {"value": value, "error": error, "rows": len(joined), "label_rows": len(labels), "prediction_rows": len(predictions)}


def observation(key: dg.AssetKey, settings: Monitoring, partition: str, measured: dict, landed: float, problem: str | None) -> dg.AssetObservation:
    landed_day = datetime.fromtimestamp(landed, timezone.utc).date()
    delay = (landed_day - datetime.fromisoformat(partition[:10]).date()).days
    return dg.AssetObservation(
        asset_key=key,
        partition=partition,
        metadata={
            METRIC_KEY: float(measured["value"]),
            "metric": settings.metric_name,
            "label_table": settings.label_table,
            "labelled_rows": measured["rows"],
            **({"standard_error": round(measured["error"], 4)} if measured.get("error") is not None else {}),
            "labels_landed": datetime.fromtimestamp(landed, timezone.utc).isoformat(timespec="seconds"),
            "label_delay_days": delay,
            "healthy": problem is None,
            **({"problem": problem} if problem else {}),
            **({"floor": settings.metric_floor} if settings.metric_floor is not None else {}),
        },
    )


def performance_alert(key: dg.AssetKey, declaration: MLAsset, settings: Monitoring, partition: str, problem: str, history: list, ui_url: str) -> Alert:
    below_floor = settings.metric_floor is not None and history[-1][1] < settings.metric_floor
    trend = ", ".join(f"{p}: {v:.3f}" for p, v in history[-settings.decay_window :])
    return Alert(
        kind=Kind.PREDICTION_PERFORMANCE,
        severity=Severity.ERROR if below_floor else Severity.WARN,
        title=f"{key.to_user_string()} {partition}: {settings.metric_name} {problem}",
        asset=key.to_user_string(),
        incident="floor" if below_floor else "decay",
        owner=declaration.owner,
        channel=declaration.alert_channel,
        link=asset_url(ui_url, key, view="checks"),
        details=(("Metric", f"{settings.metric_name} from {settings.label_table}"), ("Last partitions", trend), ("Owner", declaration.owner)),
    )


def _value(entry) -> float | None:
    """A stored metric: [value, standard error], or a bare value (kept by earlier versions)."""
    return entry[0] if isinstance(entry, list) else entry


def _error(entry) -> float | None:
    return entry[1] if isinstance(entry, list) else None


def older_partition(
    ledger: AlertLedger, key: dg.AssetKey, declaration: MLAsset, settings: Monitoring, partition: str, measured: dict, was: float | None, ui_url: str
) -> int:
    """Raise (1) or resolve (-1) the incident of an older partition re-evaluated below or above the floor."""
    subject = Alert(kind=Kind.PREDICTION_PERFORMANCE, severity=Severity.ERROR, title="", asset=key.to_user_string(), partition=partition).subject
    how = f"labels corrected ({was:.3f} before)" if was is not None else "labels landed late"
    value = measured["value"]
    problem = performance_problem([value], settings.metric_floor, 1, 1.0, [measured["error"]], evidence_z(settings.significance))
    if problem is None:
        healthy = f"{key.to_user_string()} {partition}: {settings.metric_name} {value:.3f} at or above floor after {how}"
        return -1 if ledger.resolve(subject, healthy) else 0
    alert = Alert(
        kind=Kind.PREDICTION_PERFORMANCE,
        severity=Severity.ERROR,
        title=f"{key.to_user_string()} {partition}: {settings.metric_name} {value:.3f} below floor {settings.metric_floor:.3f} after {how}",
        asset=key.to_user_string(),
        partition=partition,
        incident=f"floor:{value:.3f}",
        owner=declaration.owner,
        channel=declaration.alert_channel,
        link=asset_url(ui_url, key, view="checks"),
        details=(("Metric", f"{settings.metric_name} from {settings.label_table}"), ("Owner", declaration.owner)),
    )
    current = ledger.open.get(subject)
    if current is not None:  # still below the floor: the same incident
        ledger.open[subject] = alert
        return 0
    return 1 if ledger.raise_alert(alert) else 0


def evaluate_labels(
    ledger: AlertLedger, landed: list[tuple[str, str, float]], declared: Mapping[dg.AssetKey, MLAsset], reader, ui_url: str
) -> tuple[list[dg.AssetObservation], int, int]:
    """Apply label partitions that landed (label table, partition, time), oldest first: returns the
    observations to record and (raised, resolved)."""
    watchers = label_watchers(declared)
    by_name = {key.to_user_string(): d for key, d in declared.items()}
    performance: dict[str, dict[str, list]] = ledger.state.setdefault(PERFORMANCE, {})  # table -> partition -> [value, standard error]
    pending = [tuple(p) for p in ledger.state.get("pending", [])]
    events, raised, resolved, touched = [], 0, 0, {}
    for table, partition, landed_at in [*pending, *landed]:
        for key, declaration, settings in watchers.get(table, []):
            measured = measure(reader, key, declaration, settings, by_name[table], partition)
            if measured is None:
                if (table, partition, landed_at) not in pending:
                    pending.append((table, partition, landed_at))
                continue
            pending = [p for p in pending if p[:2] != (table, partition)]
            series = performance.setdefault(key.to_user_string(), {})
            was = _value(series.get(partition))
            series[partition] = [measured["value"], measured["error"]]
            for old in sorted(series)[:-KEPT]:
                del series[old]
            history = [(p, _value(v)) for p, v in sorted(series.items()) if p <= partition]
            errors = [_error(v) for p, v in sorted(series.items()) if p <= partition]
            problem = performance_problem(
                [v for _, v in history], settings.metric_floor, settings.decay_window, settings.max_decay, errors, evidence_z(settings.significance)
            )
            events.append(observation(key, settings, partition, measured, landed_at, problem))
            if partition == max(series):  # the table's incident follows the newest labelled partition
                touched[key] = (declaration, settings, partition, problem, history)
            else:  # labels of an older partition landed late or were corrected: that partition's own incident
                change = older_partition(ledger, key, declaration, settings, partition, measured, was, ui_url)
                raised, resolved = raised + (change > 0), resolved + (change < 0)
    for key, (declaration, settings, partition, problem, history) in touched.items():
        subject = Alert(kind=Kind.PREDICTION_PERFORMANCE, severity=Severity.WARN, title="", asset=key.to_user_string()).subject
        if problem is None:
            if ledger.resolve(subject, f"{key.to_user_string()} {partition}: {settings.metric_name} {history[-1][1]:.3f} healthy again"):
                resolved += 1
        elif ledger.raise_alert(performance_alert(key, declaration, settings, partition, problem, history, ui_url)):
            raised += 1
    ledger.state["pending"] = [list(p) for p in pending[-PENDING_MAX:]]
    return events, raised, resolved


def evaluate(tick: Tick) -> Outcome:
    ledger = tick.ledger
    if not ledger.state[PERFORMANCE] and tick.cursor:  # a cursor from before the history moved to the store
        ledger.state[PERFORMANCE] = json.loads(tick.cursor).get("state", {}).get(PERFORMANCE, {})
    labels = set(label_watchers(tick.declared))
    read, ledger.state["labels"] = instance_reads.materializations_since(
        tick.instance, ledger.state.get("labels", {}), tick.now - INITIAL_LOOKBACK_SECONDS, tick.now
    )
    landed = [(m.asset, m.partition, m.timestamp) for m in read if m.asset in labels and m.partition]
    events, raised, resolved = evaluate_labels(ledger, landed, tick.declared, tick.resources.window_reader, tick.sink.ui_url)
    return Outcome(raised, resolved, summary=f"{len(events)} performance observation(s)", asset_events=events)


DELAYED_LABEL_PERFORMANCE = AlertSensor(
    name=SENSOR_NAME,
    kinds=(Kind.PREDICTION_PERFORMANCE,),
    evaluate=evaluate,
    stored_state=(PERFORMANCE,),
    required_resources=frozenset({"window_reader"}),
    description="When a declared label table's partition lands, records the prediction table's metric for that partition and alerts on a floor or decay.",
)
delayed_label_performance = alert_sensor(DELAYED_LABEL_PERFORMANCE)
