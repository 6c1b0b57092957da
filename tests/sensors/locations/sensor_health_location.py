"""A code location whose export sensor breaks while a flag file exists, watched by the health sensor."""

import os

import dagster as dg

from ml_platform.alerting.sink import alert_sink_from_env
from ml_platform.health.sensor_health_alerts import build_sensor_health_sensor

BROKEN_FLAG_VAR = "SENSOR_HEALTH_TEST_BROKEN_FLAG"


@dg.sensor(minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def nightly_export_sensor():
    if os.path.exists(os.environ[BROKEN_FLAG_VAR]):
        raise RuntimeError("warehouse credentials expired for export_user")
    return dg.SkipReason("nothing to export")


defs = dg.Definitions(
    sensors=[nightly_export_sensor, build_sensor_health_sensor(minimum_interval_seconds=1)],
    resources={"alert_sink": alert_sink_from_env()},
)
