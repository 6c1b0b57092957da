"""Assembles the code location. The environment is chosen here, once, when Dagster loads it."""

import dagster as dg

from ml_platform.alerting.sink import alert_sink_from_env
from ml_platform.assets import all_assets
from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.compute.routing_executor import executor_for_env
from ml_platform.compute.step_metrics import with_step_metrics
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.warehouse import warehouse_resources
from ml_platform.schedules.product_schedules import build_product_schedules
from ml_platform.sensors.quality_alerts import data_quality_alerts
from ml_platform.sensors.run_failure_alerts import run_failure_alerts
from ml_platform.sensors.sensor_health import sensor_health_alerts
from ml_platform.sensors.slo_alerts import slo_alerts_sensor
from ml_platform.slo_report import slo_attainment_report


def current_env() -> str:
    """``ML_PLATFORM_ENV``: "local" (default) or "production"."""
    return dg.EnvVar("ML_PLATFORM_ENV").get_value("local")


def build_definitions(env: str | None = None) -> dg.Definitions:
    env = env or current_env()
    assets = with_step_metrics(all_assets())
    return dg.Definitions(
        assets=[*assets, slo_attainment_report],
        asset_checks=build_quality_checks(assets),
        schedules=build_product_schedules(assets),
        sensors=[slo_alerts_sensor, data_quality_alerts, run_failure_alerts, sensor_health_alerts],
        resources={**warehouse_resources(env), "synthetic": SyntheticData(), "alert_sink": alert_sink_from_env()},
        executor=executor_for_env(env),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
