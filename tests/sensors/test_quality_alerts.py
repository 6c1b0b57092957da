"""End to end: an upstream prediction table shrinks, its consumer is blocked, Slack hears once,
and the alert resolves when the table is whole again."""

import json

import dagster as dg

from ml_platform.alerting import AlertSink
from ml_platform.checks.alerts import data_quality_alerts
from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.declaration import declared_specs
from ml_platform.definitions import product_assets
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.warehouse import warehouse_resources
from tests.fixtures.product_runs import DAY, inject_history, run_products
from tests.fixtures.slack_api import TEST_TOKEN

UI_URL = "http://dagster.test:3000"
PRODUCTS = ("article_texts", "related_articles", "user_article_interactions", "article_recs_model", "article_recommendations")


def product_defs(slack_url: str, n_articles: int) -> dg.Definitions:
    assets = product_assets()
    return dg.Definitions(
        assets=assets,
        asset_checks=build_quality_checks(declared_specs(assets)),
        sensors=[data_quality_alerts],
        resources={
            **warehouse_resources("local"),
            "synthetic": SyntheticData(n_articles=n_articles),
            "alert_sink": AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_url, ui_url=UI_URL),
        },
    )


def tick(defs: dg.Definitions, instance, cursor: str | None) -> str:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"alert_sink": defs.resources["alert_sink"]}
    )
    return data_quality_alerts.evaluate_tick(context).cursor


def test_shrunk_table_blocks_consumer_alerts_once_and_resolves(warehouse, instance, slack_api):
    slack_url, messages = slack_api.url, slack_api.messages
    inject_history(instance, "related_articles", [7000] * 7)  # the full catalog gives 700 articles x 10
    partial = product_defs(slack_url, n_articles=400)  # today's catalog upload is incomplete

    result = run_products(partial, instance, DAY, *PRODUCTS)
    assert not result.success
    assert "article_recommendations" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}

    cursor = tick(partial, instance, None)
    assert len(messages) == 1
    message = messages[0]
    assert message["channel"] == "#content-similarity-alerts"  # the table's own channel
    assert message["text"].startswith(
        "ERROR: related_articles 2026-03-10: row_count_change (error) failed; holds article_recommendations until it passes"
    )
    blocks = json.dumps(message["blocks"])
    assert "2026-03-03: 7000" in blocks and "2026-03-10: 4000 (now)" in blocks, "the last row counts are shown"
    assert f"<{UI_URL}/assets/related_articles?view=checks|Open in Dagster>" in blocks

    cursor = tick(partial, instance, cursor)
    assert len(messages) == 1  # the same incident alerts once

    whole = product_defs(slack_url, n_articles=700)  # the catalog is re-uploaded in full; rerun the day
    assert run_products(whole, instance, DAY, *PRODUCTS).success
    cursor = tick(whole, instance, cursor)
    assert len(messages) == 2 and messages[1]["text"].startswith("RESOLVED: related_articles 2026-03-10: row_count_change pass again")
    tick(whole, instance, cursor)
    assert len(messages) == 2
