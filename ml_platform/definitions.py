"""Assembles the code location. The environment is chosen here, once, when Dagster loads it."""

import dagster as dg

from ml_platform.alerting import AlertSink
from ml_platform.assets import all_assets
from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.warehouse import warehouse_resources
from ml_platform.schedules.product_schedules import build_product_schedules
from ml_platform.sensors.quality_alerts import data_quality_alerts


def current_env() -> str:
    """``ML_PLATFORM_ENV``: "local" (default) or "production"."""
    return dg.EnvVar("ML_PLATFORM_ENV").get_value("local")


def build_definitions(env: str | None = None) -> dg.Definitions:
    env = env or current_env()
    assets = all_assets()
    return dg.Definitions(
        assets=assets,
        asset_checks=build_quality_checks(assets),
        schedules=build_product_schedules(assets),
        sensors=[data_quality_alerts],
        resources={**warehouse_resources(env), "synthetic": SyntheticData(), "alert_sink": AlertSink()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
