"""Which check results hold a table's consumers: one rule for the upstream gate (the IO managers),
the launch on data (``schedules.cross_product_launch``) and the alerts that name a held input.

A failed result with ERROR severity on one of the table's blocking checks holds the partition's
consumers; a WARN never does. That is Dagster's own rule inside one run (a blocking check skips
downstream steps only on ERROR); its ``all_deps_blocking_checks_passed`` condition ignores
severity, so the launch condition adds the WARN case back (``WarnedOnly``).

A blocking check that the run which wrote the partition planned but ended without evaluating (its
step was skipped after a failure, or crashed) holds it too: written but never checked, e.g. the
good days of a ranged backfill in which one day failed.
"""

from dataclasses import dataclass

import dagster as dg

from ml_platform._dagster_internal import PartitionKeyFilter
from ml_platform.checks.prediction_monitoring import blocking_monitoring_checks
from ml_platform.checks.quality_checks import check_names
from ml_platform.declaration import MLAsset


@dataclass(frozen=True)
class Hold:
    """A failed ERROR result that holds the consumers of one partition."""

    check: str
    run_id: str
    at: float  # when the result was written (unchecked: when the check was planned)
    unchecked: bool = False  # planned in a run that ended without evaluating it

    @property
    def why(self) -> str:
        """``failed its check X with ERROR`` / ``was written but its check X never ran``."""
        return f"was written but its check {self.check} never ran" if self.unchecked else f"failed its check {self.check} with ERROR"


def holds_consumers(evaluation: dg.AssetCheckEvaluation) -> bool:
    return not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR


def blocking_checks(declaration: MLAsset) -> list[str]:
    """The table's checks whose ERROR holds its consumers: every quality check, and the
    monitoring checks the declaration makes blocking."""
    quality = check_names(declaration.expectations) if declaration.expectations is not None else []
    return [*quality, *blocking_monitoring_checks(declaration)]


def holds(instance: dg.DagsterInstance, key: dg.AssetKey, declaration: MLAsset, partition: str | None) -> list[Hold]:
    """The holds on ``partition`` of a declared table, from the latest result of each blocking
    check on it (one storage call; two more when a check is only planned)."""
    keys = [dg.AssetCheckKey(key, name) for name in blocking_checks(declaration)]
    if not keys:
        return []
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        keys, partition_filter=PartitionKeyFilter(key=partition) if partition is not None else None
    )
    found = [
        Hold(check_key.name, record.run_id, executed_at(record))
        for check_key, record in latest.items()
        if isinstance(record.evaluation, dg.AssetCheckEvaluation) and holds_consumers(record.evaluation)
    ]
    planned = {k: r for k, r in latest.items() if r.status.value == "PLANNED"}
    writer = _finished_writer(instance, key, partition) if planned else None
    found += [Hold(k.name, r.run_id, r.create_timestamp, unchecked=True) for k, r in planned.items() if r.run_id == writer]
    return sorted(found, key=lambda hold: hold.check)


def executed_at(record) -> float:
    """When a check execution record was written (its event; a planned one: when it was created)."""
    return record.event.timestamp if record.event is not None else record.create_timestamp


def _finished_writer(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> str | None:
    """The finished run that wrote the partition's current data, or None while it is still going
    (it may yet evaluate its checks). A run that failed before writing leaves the previous data
    current, with its checks (two reads, only when a check is planned)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=[partition] if partition else None), limit=1).records
    run = instance.get_run_by_id(records[0].run_id) if records else None
    return run.run_id if run is not None and run.is_finished else None
