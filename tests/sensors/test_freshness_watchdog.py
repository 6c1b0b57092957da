"""When Dagster's freshness daemon stops, its last state (a PASS) would hide a model missing its
deadline. Through the daemons' own loops (sensor daemon, freshness daemon iterations), the real
sensors, AlertSink and the local Slack server; heartbeats are written as ``dagster-daemon`` writes
them while the freshness daemon runs."""

from datetime import datetime

import dagster as dg
import pytest
from dagster._daemon.freshness import FreshnessDaemon  # test-only: one daemon iteration
from dagster._daemon.types import DaemonHeartbeat  # test-only: what the daemon controller writes
from freezegun import freeze_time

from tests.fixtures.sensor_daemon import daemon_workspace, run_sensor_iteration
from tests.fixtures.slack_api import TEST_TOKEN, SlackApiServer
from tests.sensors.locations import freshness_watchdog_location

LOCATION = "freshness_watchdog_test"


def at(day: int, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-03-{day:02d}T{hhmm}:00+00:00")


class Daemons:
    def __init__(self, instance, workspace, slack_api):
        self.instance, self.workspace, self.slack = instance, workspace, slack_api

    def freshness(self, when: datetime) -> None:
        """One freshness daemon iteration and its heartbeat."""
        with freeze_time(when):
            list(FreshnessDaemon().run_iteration(self.workspace))
            self.instance.add_daemon_heartbeat(DaemonHeartbeat(when.timestamp(), "FRESHNESS_DAEMON", "daemon-1", errors=[]))

    def sensors(self, when: datetime) -> list[str]:
        """One sensor daemon iteration; the Slack texts it sent."""
        before = len(self.slack.messages)
        with freeze_time(when):
            run_sensor_iteration(self.workspace)
        return self.slack.texts()[before:]

    def materialize(self, when: datetime) -> None:
        with freeze_time(when):
            self.instance.report_runless_asset_event(dg.AssetMaterialization("ranker_model"))

    def model_state(self) -> str:
        (record,) = self.instance.get_freshness_state_records([dg.AssetKey("ranker_model")]).values()
        return record.freshness_state.value


@pytest.fixture(scope="module")
def slack_server():
    """One server for the module: the code location is imported once, with its sink's URL."""
    server = SlackApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def daemons(slack_server, monkeypatch):
    slack_api = slack_server
    slack_api.messages.clear()
    monkeypatch.setenv("ML_PLATFORM_SLACK_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("ML_PLATFORM_SLACK_API_URL", slack_api.url)
    with dg.instance_for_test() as instance, daemon_workspace(instance, freshness_watchdog_location.__file__, "defs", LOCATION) as workspace:
        yield Daemons(instance, workspace, slack_api)


def test_stopped_freshness_daemon_does_not_hide_a_missed_deadline_and_alerts_once(daemons):
    daemons.materialize(at(2, "06:00"))
    daemons.freshness(at(2, "07:05"))
    assert daemons.sensors(at(2, "07:05")) == []
    # The daemon stops after 07:05. Its record still says PASS the next morning.
    sent = daemons.sensors(at(3, "07:10")) + daemons.sensors(at(3, "07:11"))
    assert daemons.model_state() == "PASS"
    assert sorted(sent) == [
        "ERROR: Freshness daemon not running: SLO sensor judges models on their materializations",
        "FATAL: SLO breach: ranker_model missed its 2026-03-03 07:00 UTC deadline — no run started since the window"
        " opened at 2026-03-02 07:00 UTC; no schedule targets it (ranker_model)",
    ]
    breach = next(m for m in daemons.slack.messages if m["text"].startswith("FATAL"))
    assert "PASS (not used: freshness daemon not running)" in str(breach["blocks"])

    daemons.freshness(at(3, "07:20"))  # back: it evaluates FAIL itself, the same breach stays open
    assert daemons.model_state() == "FAIL"
    assert daemons.sensors(at(3, "07:20")) == ["RESOLVED: Freshness daemon running again: SLO sensor uses its states"]
    daemons.materialize(at(3, "07:30"))
    daemons.freshness(at(3, "07:31"))
    (recovered,) = daemons.sensors(at(3, "07:31"))
    assert recovered.startswith("RESOLVED: SLO recovered: ranker_model")
    daemons.freshness(at(3, "07:40"))
    assert daemons.sensors(at(3, "07:40")) == []


def test_running_freshness_daemon_state_decides(daemons):
    daemons.materialize(at(2, "06:00"))
    daemons.freshness(at(3, "06:59"))
    # Its heartbeat is current and its next iteration not due yet: its PASS decides.
    with freeze_time(at(3, "07:00")):
        daemons.instance.add_daemon_heartbeat(DaemonHeartbeat(at(3, "07:00").timestamp(), "FRESHNESS_DAEMON", "daemon-1", errors=[]))
    assert daemons.sensors(at(3, "07:00")) == []
    daemons.freshness(at(3, "07:01"))
    (breach,) = daemons.sensors(at(3, "07:01"))
    assert breach.startswith("FATAL: SLO breach: ranker_model missed its 2026-03-03 07:00 UTC deadline")
    assert "not used" not in str(daemons.slack.messages[-1]["blocks"])
