"""The platform's alert sensors. The SLO sensor lives with the rest of the SLO code in
``ml_platform.slo``; every sensor is importable from here."""

from ml_platform.sensors.cost_alerts import cost_jump_alerts
from ml_platform.sensors.delayed_labels import delayed_label_performance
from ml_platform.sensors.quality_alerts import data_quality_alerts
from ml_platform.sensors.run_failure_alerts import run_failure_alerts
from ml_platform.sensors.sensor_health import sensor_health_alerts
from ml_platform.slo.alerts import slo_alerts_sensor

__all__ = [
    "cost_jump_alerts",
    "data_quality_alerts",
    "delayed_label_performance",
    "run_failure_alerts",
    "sensor_health_alerts",
    "slo_alerts_sensor",
]
