"""Turns a catalog of declared assets into the platform's code location.

Every catalog goes through this one path — the example products (``definitions.py``), a
team's own products, the synthetic benchmark catalog — so what is measured and tested is
what users load. It imports no product module.
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
from ml_platform.compute.cost_report import build_cost_report
from ml_platform.compute.routing_executor import executor_for_env
from ml_platform.compute.step_metrics import with_step_metrics
from ml_platform.cost.alerts import COST_JUMP_ALERTS
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


def assemble_definitions(
    assets: Iterable[dg.AssetsDefinition],
    env: str,
    asset_checks: Iterable[dg.AssetChecksDefinition] = (),
    resources: Mapping[str, Any] | None = None,
    alert_sensors: Iterable[AlertSensor] = ALERT_SENSORS,
) -> dg.Definitions:
    """Step metrics on every asset, backfills over a range in one run per product (``ranged_runs``), the quality checks of every table with expectations, one
    schedule per product, a launch on data for tables that read another product's tables, the
    SLO, cost and prediction-health reports, the daily purge of old instance history, the monitoring checks of
    prediction tables and the job that pins their reference, the alert and delayed-label sensors, the environment's
    warehouse IO managers and alert sink, and the routing executor."""
    assets = with_launch_conditions(with_step_metrics(with_partition_ranges(assets)))  # metrics measure the whole (ranged) step
    return dg.Definitions(
        assets=[*assets, build_slo_attainment_report(assets), build_cost_report(assets), build_prediction_health_report(assets)],
        asset_checks=[*build_quality_checks(assets), *build_monitoring_checks(assets), *asset_checks],
        schedules=[*build_product_schedules(assets), instance_history_purge_schedule],
        jobs=[build_pin_reference_job(assets)],
        sensors=[*cross_product_launch_sensor(assets), *(alert_sensor(spec) for spec in alert_sensors)],
        resources={**warehouse_resources(env), "alert_sink": alert_sink_from_env(), **(resources or {})},
        executor=executor_for_env(env),
    )
