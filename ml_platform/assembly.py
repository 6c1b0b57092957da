"""Applies the platform's policy to loaded definitions: the code location users get.

Every catalog goes through this one path — the product modules of ``ml_platform/defs/``
(``definitions.py``, loaded by Dagster's own loader), a test's own products, the synthetic
benchmark catalog — so what is measured and tested is what users load. It imports no product
module. The declarations are read once per load (``declared_specs``) into the catalog every
builder gets; what the product modules define themselves (their own checks, jobs, schedules,
sensors and resources) is kept as loaded.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from ml_platform.alerting.sensor import AlertSensor, alert_sensor
from ml_platform.alerting.sink import alert_sink_from_env
from ml_platform.checks.alerts import DATA_QUALITY_ALERTS
from ml_platform.checks.pin_reference_job import build_pin_reference_job
from ml_platform.checks.prediction_monitoring import build_monitoring_checks
from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.compute.backends.k8s_run_start import build_run_worker_start_watch
from ml_platform.compute.cost_report import build_cost_report
from ml_platform.compute.routing_executor import PRODUCTION, executor_for_env
from ml_platform.compute.step_metrics import with_step_metrics
from ml_platform.cost.alerts import COST_JUMP_ALERTS
from ml_platform.declaration import declared_specs
from ml_platform.health.run_failure_alerts import RUN_FAILURE_ALERTS
from ml_platform.health.sensor_health_alerts import SENSOR_HEALTH_ALERTS
from ml_platform.history_purge import instance_history_purge_schedule
from ml_platform.monitoring.health import build_prediction_health_report
from ml_platform.monitoring.performance_alerts import DELAYED_LABEL_PERFORMANCE
from ml_platform.ranged_runs import with_partition_ranges
from ml_platform.resources.warehouse import warehouse_resources
from ml_platform.schedules.cross_product_launch import cross_product_launch_sensor, with_launch_conditions
from ml_platform.schedules.product_schedules import build_product_schedules
from ml_platform.slo.alerts import SLO_ALERTS
from ml_platform.slo.report import build_slo_attainment_report

# The code location's alert sensors, one line each: an alert kind is added by its module
# (an ``AlertSensor``: evaluate function, kinds, runbook entries) and one line here.
ALERT_SENSORS: tuple[AlertSensor, ...] = (
    SLO_ALERTS,
    DATA_QUALITY_ALERTS,
    DELAYED_LABEL_PERFORMANCE,
    RUN_FAILURE_ALERTS,
    SENSOR_HEALTH_ALERTS,
    COST_JUMP_ALERTS,
)


def apply_platform_policy(
    loaded: dg.Definitions, env: str, resources: Mapping[str, Any] | None = None, alert_sensors: Iterable[AlertSensor] = ALERT_SENSORS,
) -> dg.Definitions:
    """``loaded`` (what the product modules define) with, for every declared asset: step metrics,
    backfills over a range in one run per product (``ranged_runs``), the quality checks of every
    table with expectations, one schedule per product, a launch on data for tables that read
    another product's tables, the monitoring checks of prediction tables and the job that pins
    their reference; plus the SLO, cost and prediction-health reports, the daily purge of old
    instance history, the alert and delayed-label sensors, in production the watch of run-worker
    pods that cannot start, the environment's warehouse IO managers
    and alert sink, and the routing executor. ``resources`` (a test's sink, say) override the
    platform's and the products'."""
    if loaded.executor is not None:
        raise dg.DagsterInvalidDefinitionError(
            "a product module in ml_platform/defs/ sets an executor: the platform's routing executor runs every step; "
            "remove it and declare the table's compute profile instead"
        )
    platform_resources = {**warehouse_resources(env), "alert_sink": alert_sink_from_env()}
    clashes = sorted(set(platform_resources) & set(loaded.resources or {}))
    if clashes:
        raise dg.DagsterInvalidDefinitionError(
            f"resource '{clashes[0]}' of a product module in ml_platform/defs/ clashes with the platform's resource of that key; "
            "bind it under another key"
        )
    loaded_assets = list(loaded.assets or [])
    declared_assets = [a for a in loaded_assets if isinstance(a, dg.AssetsDefinition)]
    others = [a for a in loaded_assets if not isinstance(a, dg.AssetsDefinition)]  # specs, source assets: as loaded
    catalog = declared_specs(declared_assets)  # the declarations, read once for every builder below
    # Metrics wrap the (ranged) step: a ranged run's step is measured whole, each day gets its share.
    assets = with_launch_conditions(with_step_metrics(with_partition_ranges(declared_assets, catalog)), catalog)
    return dg.Definitions(
        assets=[
            *assets,
            *others,
            build_slo_attainment_report(catalog),
            build_cost_report(catalog),
            build_prediction_health_report(catalog),
        ],
        asset_checks=[*build_quality_checks(catalog), *build_monitoring_checks(assets, catalog), *(loaded.asset_checks or [])],
        schedules=[*build_product_schedules(assets, catalog), instance_history_purge_schedule, *(loaded.schedules or [])],
        jobs=[build_pin_reference_job(catalog), *(loaded.jobs or [])],
        sensors=[
            *cross_product_launch_sensor(assets, catalog),
            *(alert_sensor(spec) for spec in alert_sensors),
            *([build_run_worker_start_watch()] if env == PRODUCTION else []),  # run workers are Kubernetes pods there
            *(loaded.sensors or []),
        ],
        resources={**platform_resources, **(loaded.resources or {}), **(resources or {})},
        executor=executor_for_env(env),
        loggers=loaded.loggers,
        metadata=loaded.metadata,
        component_tree=loaded.component_tree,
    )


def assemble_definitions(
    assets: Iterable[dg.AssetsDefinition],
    env: str,
    asset_checks: Iterable[dg.AssetChecksDefinition] = (),
    resources: Mapping[str, Any] | None = None,
    alert_sensors: Iterable[AlertSensor] = ALERT_SENSORS,
) -> dg.Definitions:
    """A catalog given as a list of assets (a test's, the synthetic benchmark's), through the same path."""
    return apply_platform_policy(dg.Definitions(assets=list(assets), asset_checks=list(asset_checks)), env, resources, alert_sensors)
