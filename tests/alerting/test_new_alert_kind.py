"""A new alert kind is one module — its kind, its evaluate function, its ``AlertSensor`` — plus its
runbook entry and one line in the registry. Here the module is this file's top half (the worked
example of docs/alerting.md, "Adding an alert kind"): ``stale_model`` warns when a model has not
been retrained for a week. Nothing else of the platform is edited: the shared sequence gives it
the ledger (one alert per incident, kept across restarts), the budgeted delivery with its backlog
and backoff, the cursor and the tick line."""

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
from freezegun import freeze_time

from ml_platform.alerting import Alert, AlertSink, Severity
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick
from ml_platform.assembly import ALERT_SENSORS, assemble_definitions
from ml_platform.decorators import Product, model
from tests.alerting.test_runbook import RUNBOOK, runbook_problems
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN

# --- the alert module ---------------------------------------------------------------------------

STALE_MODEL = "stale_model"
MAX_AGE = timedelta(days=7)


def evaluate(tick: Tick) -> Outcome:
    """One WARN per declared model not materialized for ``MAX_AGE``; resolved when it is again."""
    raised = resolved = 0
    for key, declaration in sorted(tick.declared.items()):
        if declaration.partition_column:  # daily tables are the SLO sensor's business
            continue
        latest = tick.instance.get_latest_materialization_event(key)
        asset = key.to_user_string()
        subject = Alert(kind=STALE_MODEL, severity=Severity.WARN, title="", asset=asset).subject
        if latest is not None and tick.now - latest.timestamp > MAX_AGE.total_seconds():
            days = int((tick.now - latest.timestamp) // 86400)
            alert = Alert(
                kind=STALE_MODEL, severity=Severity.WARN, title=f"{asset} not retrained for {days} days", asset=asset,
                incident=str(int(latest.timestamp)), owner=declaration.owner, channel=declaration.alert_channel,
            )
            if subject not in tick.ledger.open:  # one warning while it stays stale
                raised += tick.ledger.raise_alert(alert)
        elif latest is not None:
            resolved += tick.ledger.resolve(subject, f"{asset} retrained")
    return Outcome(raised, resolved, summary=f"{len(tick.ledger.open_alerts(STALE_MODEL))} stale model(s)")


STALE_MODEL_ALERTS = AlertSensor(
    name="stale_model_alerts",
    kinds=(STALE_MODEL,),
    evaluate=evaluate,
    minimum_interval_seconds=3600,
    description="Warns once when a model has not been retrained for a week.",
)

# --- the test -----------------------------------------------------------------------------------

RECS = Product("recs", owner="team:recs", timezone="UTC")
DAY = datetime(2026, 3, 1, 6, 0, tzinfo=timezone.utc)


@model(RECS, slo="0 8 * * 1")
def ranker() -> pd.DataFrame:
    return pd.DataFrame({"weight": [1.0]})


def definitions(slack_url: str) -> dg.Definitions:
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_url)
    return assemble_definitions([ranker], "local", resources={"alert_sink": sink}, alert_sensors=(*ALERT_SENSORS, STALE_MODEL_ALERTS))


def retrain(instance: dg.DagsterInstance, at: datetime) -> None:
    with freeze_time(at):
        instance.report_runless_asset_event(dg.AssetMaterialization(ranker.key))


def tick(slack_url: str, instance: dg.DagsterInstance, cursor: str | None, at: datetime):
    with freeze_time(at):  # a fresh load each tick: a restart between ticks
        return tick_sensor(definitions(slack_url), STALE_MODEL_ALERTS.name, instance, cursor)


def test_a_new_alert_kind_in_one_module_alerts_once_survives_an_outage_and_resolves(instance, slack_api):
    names = {s.name for s in definitions(slack_api.url).sensors}
    assert {"stale_model_alerts", *(spec.name for spec in ALERT_SENSORS)} <= names

    retrain(instance, DAY)
    fresh = tick(slack_api.url, instance, None, DAY + timedelta(days=3))
    assert slack_api.messages == []
    assert fresh.skip_message == "0 stale model(s); alerts: raised 0, resolved 0, delivered 0, backlog 0"

    slack_api.fail_with(500)  # Slack is down when the model turns stale: the alert waits in the backlog
    down = tick(slack_api.url, instance, fresh.cursor, DAY + timedelta(days=8))
    assert slack_api.messages == []
    assert down.skip_message.startswith("1 stale model(s); alerts: raised 1, resolved 0, delivered 0, backlog 1; delivery failing:")

    slack_api.recover()
    back = tick(slack_api.url, instance, down.cursor, DAY + timedelta(days=8, minutes=5))  # after the backoff
    again = tick(slack_api.url, instance, back.cursor, DAY + timedelta(days=9))
    assert [m["text"] for m in slack_api.messages] == ["WARN: ranker not retrained for 8 days (ranker)"]
    assert back.skip_message == "1 stale model(s); alerts: raised 0, resolved 0, delivered 1, backlog 0"
    assert again.skip_message == "1 stale model(s); alerts: raised 0, resolved 0, delivered 0, backlog 0"

    retrain(instance, DAY + timedelta(days=9, hours=1))
    fixed = tick(slack_api.url, instance, again.cursor, DAY + timedelta(days=9, hours=2))
    assert fixed.skip_message == "0 stale model(s); alerts: raised 0, resolved 1, delivered 1, backlog 0"
    assert len(slack_api.messages) == 2 and "ranker retrained" in slack_api.messages[1]["text"]


def test_the_new_kind_needs_its_runbook_entry_and_the_worked_example_has_one():
    assert runbook_problems([STALE_MODEL], RUNBOOK.read_text()) == [f"no runbook entry for {STALE_MODEL}"]
    docs = (Path(__file__).resolve().parents[2] / "docs" / "alerting.md").read_text()
    [example] = re.findall(r"```markdown\n(### `stale_model`.*?)```", docs, re.S)
    assert runbook_problems([STALE_MODEL], example) == []
