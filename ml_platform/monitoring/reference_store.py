"""Where a monitored table's references live in the Dagster instance.

* Partition summaries: an ``AssetObservation`` of the table's partition, recorded by the monitoring
  check right after the partition is written (metadata ``ml_platform/monitoring_summary``). A window
  is one read of the observations of a list of partitions.
* The pin in force, the newer of:
  - the pin kept in the instance's key-value store: a person's (``ml-platform pin-reference``, or
    the ``pin_prediction_reference`` job in the UI), or, written once by the first check of a table
    that has no pin at all, the first partition the monitoring checked (so a table monitored
    since an upgrade is pinned from its first summary, not from partitions that have none);
  - the table's model retrained: the first partition of the table written after the model's latest
    materialization (derived from the event log, so nothing is written and concurrent checks agree).
"""

import json
import time
from datetime import date, datetime, timezone

import dagster as dg

from ml_platform import instance_reads
from ml_platform.monitoring.reference import SUMMARY_KEY, PartitionSummary, Pin

PIN_PREFIX = "ml_platform/monitoring/pin/"
RETRAIN_LOOKAHEAD = 50  # materializations after a retraining read to find the new model's first new day
RECORDS_PER_PARTITION = 8  # observations read per partition: re-checks and delayed-label metrics share them


def _pin_key(key: dg.AssetKey) -> str:
    return PIN_PREFIX + key.to_user_string()


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def stored_pin(instance: dg.DagsterInstance, key: dg.AssetKey) -> Pin | None:
    value = instance_reads.stored_value(instance, _pin_key(key))
    return Pin(**json.loads(value)) if value else None


def pin_reference(instance: dg.DagsterInstance, key: dg.AssetKey, since: str | None, by: str, now: float | None = None) -> Pin:
    """Pin ``key``'s reference from partition ``since`` (default: its newest materialized partition,
    whatever was written last: a re-run of an old day is not the newest)."""
    if since is None:
        materialized = instance.get_materialized_partitions(key)
        if not materialized:
            raise ValueError(f"table '{key.to_user_string()}' has no materialized partition to pin; pass --since YYYY-MM-DD")
        since = max(materialized)
    try:
        canonical = date.fromisoformat(since).isoformat() == since
    except ValueError:
        canonical = False
    if not canonical:
        raise ValueError(f"pin of '{key.to_user_string()}': since must be a partition key YYYY-MM-DD, got {since!r}")
    if since not in instance.get_materialized_partitions(key):
        raise ValueError(f"pin of '{key.to_user_string()}': partition {since} is not materialized; pin a partition the table has")
    pin = Pin(since=since, at=now or time.time(), reason=f"pinned by {by}", explicit=True)
    instance_reads.store_value(instance, _pin_key(key), json.dumps(pin.__dict__))
    return pin


def model_pin(instance: dg.DagsterInstance, key: dg.AssetKey, model_keys: list[dg.AssetKey]) -> Pin | None:
    """The pin set by the table's model's latest retraining (None: no model, or nothing written since)."""
    if not model_keys:
        return None
    latest = [(e.timestamp, k) for k, e in instance.get_latest_materialization_events(model_keys).items() if e is not None]
    if not latest:
        return None
    at, model = max(latest)
    # The new model's first new day: a re-run of an old day after the retraining is not where its era starts.
    before = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, before_timestamp=at), limit=1).records
    floor = before[0].partition_key or "" if before else ""
    after = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_timestamp=at), limit=RETRAIN_LOOKAHEAD, ascending=True).records
    since = min((r.partition_key for r in after if r.partition_key and r.partition_key > floor), default=None)
    if since is None:
        return None
    return Pin(since=since, at=at, reason=f"model {model.to_user_string()} retrained {_when(at)}", retrained=True)


def pin_in_force(instance: dg.DagsterInstance, key: dg.AssetKey, model_keys: list[dg.AssetKey], partition: str) -> Pin:
    """The newer of the stored pin and the model's; with neither, ``partition`` becomes the table's
    first pin (the first partition the monitoring checks)."""
    pins = [p for p in (stored_pin(instance, key), model_pin(instance, key, model_keys)) if p is not None]
    if pins:
        return max(pins, key=lambda p: p.at)
    first = Pin(since=partition, at=time.time(), reason="the first monitored partition")
    instance_reads.store_value(instance, _pin_key(key), json.dumps(first.__dict__))
    return first


def read_summaries(instance: dg.DagsterInstance, key: dg.AssetKey, partitions: list[str]) -> dict[str, PartitionSummary]:
    """The latest recorded summary of each of ``partitions`` that has one (one storage read)."""
    if not partitions:
        return {}
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(partitions)), limit=len(partitions) * RECORDS_PER_PARTITION
    ).records  # newest first
    found: dict[str, PartitionSummary] = {}
    for record in records:
        value = record.asset_observation.metadata.get(SUMMARY_KEY) if record.asset_observation else None
        if value is not None and record.partition_key and record.partition_key not in found:
            found[record.partition_key] = PartitionSummary.from_json(record.partition_key, value.value, record.timestamp)
    return found
