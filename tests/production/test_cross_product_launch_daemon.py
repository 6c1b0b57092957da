"""Both product schedules fire at the same daemon tick; the table that reads the other product's
table is launched on data, after its input for the same date landed and passed its checks. A
backfill launched like the UI's across dates and both products runs in dependency order."""

import re

import dagster as dg
import pytest

from ml_platform.compute.run_limits import MAX_RUNTIME_TAG
from ml_platform.declaration import PRODUCT_TAG, declaration_of
from ml_platform.defs.article_recs import article_recommendations
from ml_platform.defs.related_content import related_articles
from ml_platform.health.run_failure_alerts import run_failure_alerts
from ml_platform.schedules.cross_product_launch import launch_sensor_name
from tests.production.conftest import FIRST_DAY, SCHEDULED_PRODUCTS
from tests.production.test_postgres_instance import LAUNCH_BACKFILL, finished_ticks

pytestmark = pytest.mark.timeout(600)
RECOMMENDATIONS, RELATED_ARTICLES = declaration_of(article_recommendations), declaration_of(related_articles)


def test_consumer_of_another_product_runs_after_its_input_for_the_same_date_with_no_failed_run(deployment):
    instance = deployment.instance()

    def scheduled_runs():
        """A run of each product schedule for one date (the catch-up of the backdated schedules may tick more than once)."""
        runs = {p: {r.tags.get("dagster/partition"): r for r in instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": f"{p}_schedule"}))}
                for p in SCHEDULED_PRODUCTS}
        common = sorted(set.intersection(*(set(r) for r in runs.values())) - {None})
        return [runs[p][common[0]] for p in SCHEDULED_PRODUCTS] if common else None

    related_run, recs_run = deployment.wait_until(scheduled_runs, 180, "a run from each product schedule for one date")
    partition = related_run.tags["dagster/partition"]
    assert dg.AssetKey(RECOMMENDATIONS.name) not in (recs_run.asset_selection or set())  # not on the clock

    def consumer_materialized():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey(RECOMMENDATIONS.name), asset_partitions=[partition]), limit=1
        ).records
        return records[0] if records else None

    consumer = deployment.wait_until(consumer_materialized, 420, f"{RECOMMENDATIONS.name} {partition}", interval=2.0)
    [upstream] = instance.fetch_materializations(
        dg.AssetRecordsFilter(dg.AssetKey(RELATED_ARTICLES.name), asset_partitions=[partition]), limit=1
    ).records
    assert consumer.timestamp > upstream.timestamp
    consumer_run = deployment.wait_until(
        lambda: (run := instance.get_run_by_id(consumer.run_id)).is_finished and run, 180, "the consumer's run to finish"
    )
    # launched on data, by its product's automation sensor (evaluated by the sensor daemon in the code server)
    assert consumer_run.tags.get("dagster/sensor_name") == launch_sensor_name(RECOMMENDATIONS.product)
    assert consumer_run.tags[PRODUCT_TAG] == RECOMMENDATIONS.product and int(consumer_run.tags[MAX_RUNTIME_TAG]) > 0
    assert consumer_run.status == dg.DagsterRunStatus.SUCCESS

    everything = instance.get_runs()
    assert [r.run_id for r in everything if r.status == dg.DagsterRunStatus.FAILURE] == []
    # the first day, run by the CLI before the daemon started, is not launched again (or, if a
    # run of it is still going, that run ends well): what is in flight is waited for, not judged
    first_day = deployment.wait_until(
        lambda: (runs := instance.get_runs(dg.RunsFilter(tags={"dagster/partition": FIRST_DAY}))) and all(r.is_finished for r in runs) and runs,
        180,
        f"the runs of {FIRST_DAY} to finish",
    )
    assert [(r.run_id, r.tags.get("dagster/sensor_name"), sorted(map(str, r.asset_selection or ()))) for r in first_day
            if r.status != dg.DagsterRunStatus.SUCCESS] == []
    name = run_failure_alerts.name
    ticks = deployment.wait_until(lambda: finished_ticks(deployment, name), 120, f"a tick of {name}")
    assert all(re.search(r"\braised 0\b", t["skipReason"] or "") for t in ticks), ticks


def test_ui_backfill_across_dates_and_both_products_runs_in_dependency_order(deployment):
    assets = ["article_texts", RELATED_ARTICLES.name, "user_article_interactions", RECOMMENDATIONS.name]
    partitions = ["2026-02-02", "2026-02-03"]
    params = {"assetSelection": [{"path": [name]} for name in assets], "partitionNames": partitions}
    launched = deployment.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    instance = deployment.instance()
    backfill = deployment.wait_until(
        lambda: (b := instance.get_backfill(launched["backfillId"])).status.value != "REQUESTED" and b, 420, "the backfill", interval=1.0
    )
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]}))
    assert backfill.status.value == "COMPLETED_SUCCESS", [(r.run_id, r.status) for r in runs]
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}  # no gate refused a missing input
    for partition in partitions:
        landed = {
            name: instance.fetch_materializations(dg.AssetRecordsFilter(dg.AssetKey(name), asset_partitions=[partition]), limit=1).records[0]
            for name in (RELATED_ARTICLES.name, RECOMMENDATIONS.name)
        }
        assert landed[RECOMMENDATIONS.name].timestamp > landed[RELATED_ARTICLES.name].timestamp
