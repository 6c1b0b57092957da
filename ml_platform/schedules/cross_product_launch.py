"""Data-driven launch of the tables that read another product's tables.

A product's clock schedule cannot know when another product's table for the same date is
ready: both product schedules may fire at 04:00, and the consumer would read a partition a
concurrent run is still writing. So, derived from the declarations at assembly, every
daily-partitioned declared asset that reads a table of another product (or a table of its own
product that is itself launched this way) gets ``launch_on_inputs()`` as its Dagster
``AutomationCondition`` and leaves its product's schedule. The ``cross_product_launch`` sensor
(an ``AutomationConditionSensorDefinition``, running by default) evaluates it in the daemon:

* only the partition of the current date (``in_latest_time_window``: partitions end one day
  ahead, so the latest window is today's) — old partitions are never launched, not even at the
  first evaluation;
* once per trigger: the partition appeared (a new day), an input was updated, or the condition
  is evaluated for the first time while the partition is missing; a request or a
  materialization by any other path (UI, backfill) resets it, so a failed run is not retried
  in a loop;
* only when every input partition of that date exists, none is being written, and every
  blocking check on them has passed (a check still running has not passed);
* never while the table itself is in a run or a backfill.

Waiting is an evaluation that requests nothing: no run, no pod, no failure. Unpartitioned
assets (models) keep their product's schedule: they read history, not one date.
"""

from collections.abc import Iterable

import dagster as dg

from ml_platform.declaration import MLAsset, declared_specs

SENSOR_NAME = "cross_product_launch"


def launch_on_inputs() -> dg.AutomationCondition:
    ac = dg.AutomationCondition
    trigger = (ac.newly_missing() | ac.any_deps_updated() | (ac.initial_evaluation() & ac.missing())).since(
        ac.newly_requested() | ac.newly_updated()
    )
    return (
        ac.in_latest_time_window()
        & trigger.with_label("missing or an input updated, since last requested or updated")
        & ~ac.any_deps_missing()
        & ~ac.any_deps_in_progress()
        & ac.all_deps_blocking_checks_passed()
        & ~ac.in_progress()
    ).with_label("launch_on_inputs")


def data_launched(assets: Iterable[dg.AssetsDefinition]) -> set[dg.AssetKey]:
    """Declared daily assets with an upstream in another product, or an upstream launched on data."""
    assets = list(assets)
    declared = declared_specs(assets)
    parents = {spec.key: {dep.asset_key for dep in spec.deps} for a in assets for spec in a.specs if spec.key in declared}
    launched: set[dg.AssetKey] = set()
    changed = True
    while changed:  # a fixed point: a chain inside one product behind a cross-product read
        changed = False
        for key, declaration in declared.items():
            if key not in launched and _reads_elsewhere(declaration, parents[key], declared, launched):
                launched.add(key)
                changed = True
    return launched


def _reads_elsewhere(declaration: MLAsset, parents, declared: dict[dg.AssetKey, MLAsset], launched: set) -> bool:
    if not declaration.partition_column:
        return False
    return any(p in launched or (p in declared and declared[p].product != declaration.product) for p in parents)


def with_launch_conditions(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The same assets; those launched on data carry ``launch_on_inputs()``."""
    assets = list(assets)
    launched = data_launched(assets)
    if not launched:
        return assets
    condition = launch_on_inputs()  # one shared object

    def _apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        return spec.replace_attributes(automation_condition=condition) if spec.key in launched else spec

    return [a.map_asset_specs(_apply) if any(k in launched for k in a.keys) else a for a in assets]


def launched_keys(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """Assets that carry an automation condition (the platform's or an author's own)."""
    return [spec.key for a in assets for spec in a.specs if spec.automation_condition is not None]


def cross_product_launch_sensor(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AutomationConditionSensorDefinition]:
    """The sensor that evaluates the launch conditions, running by default; none if nothing is launched on data."""
    keys = launched_keys(assets)
    if not keys:
        return []
    return [
        dg.AutomationConditionSensorDefinition(
            SENSOR_NAME,
            target=dg.AssetSelection.assets(*keys),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
            description="Launches each table that reads another product's table when all its inputs for today's date "
            "are materialized and their blocking checks passed.",
        )
    ]
