"""SLO sensor behaviour in small scenes: stopped schedule, sink outage, cursor-only state."""


from datetime import date, timedelta

import pytest

from ml_platform.alerting import Alert, AlertLedger, AlertSink, DeliveryFailed
from ml_platform.slo.alerts import SENSOR_NAME, STORED_STATE, evaluate_slo_tick
from tests.fixtures import slo_catalog
from tests.fixtures.slo_simulation import Simulation, tmpfs_instance, tokyo


class FlakySink(AlertSink):
    """The platform sink with a transport that is down until ``transport["up"]`` is set."""

    def model_post_init(self, _context) -> None:
        object.__setattr__(self, "transport", {"up": False})
        object.__setattr__(self, "delivered", [])

    def send(self, alert: Alert) -> None:
        if not self.transport["up"]:
            raise DeliveryFailed("slack unreachable")
        self.delivered.append(alert)


@pytest.fixture
def instance():
    with tmpfs_instance() as instance:
        yield instance


def seed_on_time(instance, day: str) -> None:
    """Every table on time for ``day`` and the day before (the readers in other zones and the Monday
    report are judged on the day before at Tokyo morning), except table_05."""
    sim = Simulation(instance, alert_log=None)
    previous = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    for asset in slo_catalog.ASSETS:
        name = asset.key.to_user_string()
        if name == "weekly_model":
            sim.materialize(tokyo("2026-03-02", "06:00"), name, None)
        elif name != "table_05":
            for partition in (previous, day):
                sim.materialize(tokyo(partition, "05:30" if name == "features" else "07:00"), name, partition)


def test_alerts_survive_a_sink_outage_and_are_delivered_once(instance):
    seed_on_time(instance, "2026-03-03")
    graph = slo_catalog.defs.resolve_asset_graph()
    sink = FlakySink(ui_url="http://dagster.test")
    first = evaluate_slo_tick(instance, graph, None, sink, tokyo("2026-03-03", "08:10"))
    assert [a.asset for a in first.raised] == ["table_05"] and sink.delivered == []
    assert "backlog 1" in first.summary
    sink.transport["up"] = True
    # Still in breach on the next tick: nothing new raised, the backlog is delivered once.
    second = evaluate_slo_tick(instance, graph, first.cursor, sink, tokyo("2026-03-03", "08:20"))  # after the backoff
    third = evaluate_slo_tick(instance, graph, second.cursor, sink, tokyo("2026-03-03", "08:30"))
    assert second.raised == [] and third.raised == []
    assert [(a.asset, a.resolved) for a in sink.delivered] == [("table_05", False)]


def test_cursor_holds_state_so_an_unchanged_tick_raises_nothing(instance):
    seed_on_time(instance, "2026-03-03")
    graph = slo_catalog.defs.resolve_asset_graph()
    sink = FlakySink(ui_url="http://dagster.test")
    sink.transport["up"] = True
    first = evaluate_slo_tick(instance, graph, None, sink, tokyo("2026-03-03", "08:10"))
    again = evaluate_slo_tick(instance, graph, first.cursor, sink, tokyo("2026-03-03", "08:11"))
    assert len(first.raised) == 1 and again.raised == [] and again.resolved == []
    state = AlertLedger.load(instance, SENSOR_NAME, again.cursor, STORED_STATE).state
    assert state["fresh"]["table_01"]["2026-03-03T08:00:00+09:00"] == tokyo("2026-03-03", "07:00").timestamp()


def test_no_run_cause_says_the_product_schedule_is_stopped(instance, tmp_path, monkeypatch):
    log = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("ML_PLATFORM_TEST_ALERT_LOG", str(log))
    seed_on_time(instance, "2026-03-03")
    sim = Simulation(instance, log)
    with sim.running():
        schedule = sim.remote_schedule("demo_schedule")
        instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        sim.tick(tokyo("2026-03-03", "08:10"))
    (sent,) = sim.sent
    assert sent.alert.asset == "table_05"
    assert dict(sent.alert.details)["why"].endswith("schedule demo_schedule is stopped")
    assert dict(sent.alert.details)["cause"] == "no_run"
