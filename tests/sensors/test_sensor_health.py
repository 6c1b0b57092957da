
import dagster as dg
from dagster._core.test_utils import freeze_time

from tests.fixtures.sensor_daemon import daemon_workspace, run_sensor_iteration
from tests.fixtures.slack_api import TEST_TOKEN
from tests.sensors.locations import sensor_health_location

LOCATION = "health_test_location"


def test_failing_sensor_alerts_once_with_its_name_and_error_then_resolves(slack_api, tmp_path, monkeypatch):
    flag = tmp_path / "broken"
    flag.touch()
    monkeypatch.setenv(sensor_health_location.BROKEN_FLAG_VAR, str(flag))
    monkeypatch.setenv("ML_PLATFORM_SLACK_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("ML_PLATFORM_SLACK_API_URL", slack_api.url)
    monkeypatch.setenv("ML_PLATFORM_UI_URL", "http://dagster.example")

    with dg.instance_for_test() as instance, daemon_workspace(
        instance, sensor_health_location.__file__, "defs", LOCATION
    ) as workspace:
        start = 1_790_000_000.0
        for i in range(4):  # the export sensor fails on every tick
            with freeze_time(start + 10 * i):
                run_sensor_iteration(workspace)
        failing = list(slack_api.messages)
        flag.unlink()
        for i in range(4, 7):
            with freeze_time(start + 10 * i):
                run_sensor_iteration(workspace)

    assert [m["text"] for m in slack_api.messages] == [
        "ERROR: Sensor nightly_export_sensor is failing",
        "RESOLVED: Sensor nightly_export_sensor ticks again",
    ]
    (alert,) = failing
    assert alert["channel"] == "#ml-error"
    body = str(alert["blocks"])
    assert "RuntimeError: warehouse credentials expired for export_user" in body
    assert f"http://dagster.example/locations/{LOCATION}/sensors/nightly_export_sensor" in body
    assert "in nightly_export_sensor" in body  # the traceback's frame in the sensor's own code
