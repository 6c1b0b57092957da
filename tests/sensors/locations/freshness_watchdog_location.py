"""A code location with one daily model, the SLO sensor and the health sensor (Slack from the env)."""

import time

import dagster as dg

from ml_platform.alerting.sink import alert_sink_from_env
from ml_platform.declaration import SLO, Model
from ml_platform.health.sensor_health_alerts import build_sensor_health_sensor
from ml_platform.slo.alerts import slo_alerts_sensor

MODEL = Model(name="ranker_model", product="ranker", owner="team:ranker", slo=SLO("0 7 * * *"), compute="small", retries=0)


@dg.asset(**MODEL.asset_kwargs())
def ranker_model() -> None:
    return None


defs = dg.Definitions(
    assets=[ranker_model],
    # The clock is looked up at each tick, so the tests' frozen time applies.
    sensors=[slo_alerts_sensor, build_sensor_health_sensor(minimum_interval_seconds=1, clock=lambda: time.time())],
    resources={"alert_sink": alert_sink_from_env(), "model_io_manager": dg.FilesystemIOManager()},
)
