"""The shared alert-sensor sequence on a bad day: a slow Slack and a big backlog. Each tick stops
sending when the sink's budget is spent (Dagster cuts a sensor tick at 60 s), says so in its line,
and the next ticks send the rest, each alert once and in order."""

import dagster as dg

from ml_platform.alerting import Alert, AlertSink, Severity
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick, alert_sensor
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN

ITEMS = [f"item_{i}" for i in range(5)]


def raise_every_item(tick: Tick) -> Outcome:
    raised = sum(tick.ledger.raise_alert(Alert(kind="probe", severity=Severity.WARN, title=f"{item} broke", asset=item)) for item in ITEMS)
    return Outcome(raised, 0, summary=f"{len(tick.ledger.open_alerts('probe'))} open")


PROBE = AlertSensor(name="probe_alerts", kinds=("probe",), evaluate=raise_every_item, description="Test probe.")


def test_a_slow_slack_spreads_the_backlog_over_ticks_within_the_budget(instance, slack_api):
    slack_api.latency = 0.15  # five messages take longer than one tick's budget
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, tick_budget_seconds=0.3)
    defs = dg.Definitions(sensors=[alert_sensor(PROBE)], resources={"alert_sink": sink})

    lines, cursor = [], None
    while len(slack_api.messages) < len(ITEMS) and len(lines) < 10:
        result = tick_sensor(defs, PROBE.name, instance, cursor)
        lines.append(result.skip_message)
        cursor = result.cursor

    assert lines[0].startswith("5 open; alerts: raised 5, resolved 0, delivered ")
    assert len(lines) > 1 and all("deferred (tick budget spent)" in line for line in lines[:-1])
    assert lines[-1].endswith("backlog 0") and "raised 0" in lines[-1]
    assert [m["text"] for m in slack_api.messages] == [f"WARN: {item} broke ({item})" for item in ITEMS]
    quiet = tick_sensor(defs, PROBE.name, instance, cursor)
    assert quiet.skip_message == "5 open; alerts: raised 0, resolved 0, delivered 0, backlog 0" and len(slack_api.messages) == len(ITEMS)
