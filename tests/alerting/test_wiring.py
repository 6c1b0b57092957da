import time

import dagster as dg
from dagster._daemon.types import DaemonHeartbeat  # test-only: what the daemon controller writes

from ml_platform.alerting import AlertSink
from ml_platform.definitions import build_definitions
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN

ALERT_VARS = ("ML_PLATFORM_SLACK_TOKEN", "ML_PLATFORM_SLACK_API_URL", "ML_PLATFORM_UI_URL")


def test_definitions_load_without_any_alerting_variables_and_alert_to_the_console(monkeypatch):
    for name in ALERT_VARS:
        monkeypatch.delenv(name, raising=False)

    defs = build_definitions("local")

    sink = defs.resources["alert_sink"]
    assert isinstance(sink, AlertSink) and sink.slack_token is None
    assert sink.slack_api_url == "https://slack.com/api/" and sink.ui_url == "http://localhost:3000"
    names = {s.name for s in defs.get_repository_def().sensor_defs}
    assert {"run_failure_alerts", "sensor_health_alerts"} <= names


def test_the_token_stays_an_env_var_reference_in_the_loaded_definitions(monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_SLACK_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("ML_PLATFORM_SLACK_API_URL", "http://127.0.0.1:9/api/")

    sink = build_definitions("local").resources["alert_sink"]

    assert isinstance(sink.slack_token, dg.EnvVar) and sink.slack_token.env_var_name == "ML_PLATFORM_SLACK_TOKEN"
    assert sink.slack_api_url == "http://127.0.0.1:9/api/"


def test_platform_alert_sensors_tick_on_the_real_code_location(slack_api, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_SLACK_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("ML_PLATFORM_SLACK_API_URL", slack_api.url)
    defs = build_definitions("local")

    with dg.instance_for_test() as instance:
        failures = tick_sensor(defs, "run_failure_alerts", instance, None)
        no_daemon = tick_sensor(defs, "sensor_health_alerts", instance, None)
        # dagster-daemon runs the freshness daemon beside the sensors and records its heartbeat.
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "FRESHNESS_DAEMON", "daemon-1", errors=[]))
        daemon_back = tick_sensor(defs, "sensor_health_alerts", instance, no_daemon.cursor)

    assert failures.skip_message == "alerts: raised 0, resolved 0, delivered 0, backlog 0"
    assert no_daemon.skip_message == "alerts: raised 1, resolved 0, delivered 1, backlog 0"
    assert daemon_back.skip_message == "alerts: raised 0, resolved 1, delivered 1, backlog 0"
    texts = slack_api.texts()
    assert len(texts) == 2 and "freshness daemon" in texts[0].lower() and "freshness daemon" in texts[1].lower()
