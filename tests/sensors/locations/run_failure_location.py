"""A code location where a sensor launches a run of a failing prediction table through the daemon."""

import dagster as dg

from ml_platform.alerting.sink import alert_sink_from_env
from ml_platform.declaration import SLO, Expectations, PredictionTable
from ml_platform.health.run_failure_alerts import build_run_failure_alert_sensor

PARTITION = "2026-03-02"
TABLE = PredictionTable(
    name="ranking_scores",
    product="ranking",
    owner="team:ranking",
    slo=SLO("0 7 * * *"),
    compute="small",
    retries=0,
    alert_channel="#ranking-oncall",
    expectations=Expectations(key_columns=("user_id",)),
)


@dg.asset(**TABLE.asset_kwargs())
def ranking_scores() -> None:
    raise KeyError("feature 'dwell_time' missing from the feature store")


@dg.sensor(minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING, asset_selection=[ranking_scores])
def ranking_trigger():
    return dg.RunRequest(run_key="first", partition_key=PARTITION)


defs = dg.Definitions(
    assets=[ranking_scores],
    sensors=[ranking_trigger, build_run_failure_alert_sensor(minimum_interval_seconds=1)],
    resources={"alert_sink": alert_sink_from_env()},
)
