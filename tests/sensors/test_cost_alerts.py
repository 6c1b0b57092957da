"""End to end: a table moved to a bigger profile costs many times its median; Slack hears once with the
cause, the alert resolves when the cost is back, and a slower run is named as the next cause."""

import json
import statistics
import time
from datetime import date

import dagster as dg
import pandas as pd
import pytest

from ml_platform.alerting import AlertSink
from ml_platform.assembly import assemble_definitions
from ml_platform.compute.pricing import COST_KEY, PRICE_SHEET_ENV
from ml_platform.cost.alerts import FACTOR_ENV, MIN_USD_ENV, DayCost, cost_jump_alerts, judge, settings
from ml_platform.decorators import Product, feature_table
from tests.fixtures.price_sheets import write_price_sheet
from tests.fixtures.product_runs import run_products
from tests.fixtures.slack_api import TEST_TOKEN

UI_URL = "http://dagster.test:3000"
BILLING = Product("billing", owner="team:billing", timezone="UTC", alert_channel="#billing-alerts")


def billing_defs(compute: str, seconds: float, slack_url: str) -> dg.Definitions:
    """One table of the billing product on ``compute``, whose step takes ``seconds``."""

    @feature_table(BILLING, slo="0 9 * * *", compute=compute)
    def invoices(context: dg.AssetExecutionContext) -> pd.DataFrame:
        time.sleep(seconds)
        return pd.DataFrame({"date": [context.partition_key], "user_id": [1]})

    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_url, ui_url=UI_URL)
    return assemble_definitions([invoices], "local", resources={"alert_sink": sink})


def tick(defs: dg.Definitions, instance, cursor: str | None) -> str:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"alert_sink": defs.resources["alert_sink"]}
    )
    return cost_jump_alerts.evaluate_tick(context).cursor


def run_day(defs: dg.Definitions, instance, day: str) -> float:
    result = run_products(defs, instance, day, "invoices")
    assert result.success
    (attempt,) = result.asset_observations_for_node("invoices")  # the step's attempt record
    return attempt.metadata[COST_KEY].value


@pytest.fixture
def priced(local_env, monkeypatch):
    monkeypatch.setenv(PRICE_SHEET_ENV, str(write_price_sheet(local_env)))
    monkeypatch.setenv(FACTOR_ENV, "2")


def test_cost_jump_warns_once_with_the_cause_and_resolves(priced, instance, slack_api):
    messages = slack_api.messages
    small = billing_defs("small", 0.1, slack_api.url)
    usual = [run_day(small, instance, f"2026-03-0{day}") for day in range(1, 5)]
    cursor = tick(small, instance, None)
    assert messages == [], "four ordinary days: nothing to say"

    large = billing_defs("large", 0.1, slack_api.url)  # someone moved the table to the highmem pool
    jumped = run_day(large, instance, "2026-03-05")
    cursor = tick(large, instance, cursor)
    assert len(messages) == 1
    message = messages[0]
    ratio = jumped / statistics.median(usual)
    assert ratio > 2 and message["channel"] == "#billing-alerts"
    assert message["text"].startswith(f"WARN: invoices: cost on 2026-03-05 is {ratio:.1f}× its median; profile changed:")
    blocks = json.dumps(message["blocks"], ensure_ascii=False)
    assert "small: 500m vCPU, 1Gi → large: 4 vCPU, 16Gi ($3600.0000/h → $43200.0000/h)" in blocks
    assert "duration up" not in blocks, "the step took as long as usual"

    cursor = tick(large, instance, cursor)
    assert len(messages) == 1, "one warning per jump, not one per tick"

    run_day(small, instance, "2026-03-06")  # moved back
    cursor = tick(small, instance, cursor)
    assert len(messages) == 2 and messages[1]["text"].startswith("RESOLVED: invoices: cost on 2026-03-06 is back to")

    slow = billing_defs("small", 3.0, slack_api.url)  # the same profile, far more work (the wall time includes writing)
    run_day(slow, instance, "2026-03-07")
    tick(slow, instance, cursor)
    assert len(messages) == 3
    assert "duration up" in messages[2]["text"] and "profile changed" not in messages[2]["text"]


def test_a_jump_must_also_be_a_minimum_amount_per_day(monkeypatch):
    """0.002 → 0.006 USD a day is three times the median but not worth a warning; the minimum is configurable."""
    days = {date(2026, 3, d): DayCost(cost=0.002, runs=1, duration_s=0.002) for d in range(1, 5)}
    days[date(2026, 3, 5)] = DayCost(cost=0.006, runs=1, duration_s=0.006)
    assert not judge(days, 2.0, 7).jumped  # default minimum: $1 a day more
    assert judge(days, 2.0, 7, min_increase=0.001).jumped
    monkeypatch.setenv(MIN_USD_ENV, "0.5")
    assert settings()[2] == 0.5
    monkeypatch.setenv(MIN_USD_ENV, "lots")
    with pytest.raises(ValueError, match="ML_PLATFORM_COST_JUMP_MIN_USD='lots': expected a non-negative number of USD per day"):
        settings()
