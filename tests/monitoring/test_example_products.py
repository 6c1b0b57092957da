"""The monitoring on the example products: propensity's labels become an AUC observation, and a
table that declares ``error_blocks_consumers`` keeps its consumers from a drifted partition."""

import dagster as dg
import pandas as pd

from ml_platform.alerting import AlertSink
from ml_platform.assembly import assemble_definitions
from ml_platform.declaration import Expectations
from ml_platform.decorators import Product, feature_table, prediction_table
from ml_platform.definitions import product_assets
from ml_platform.monitoring.performance_alerts import METRIC_KEY, SENSOR_NAME
from ml_platform.monitoring.settings import Monitoring
from ml_platform.resources.synthetic import SyntheticData
from tests.fixtures.product_runs import DAY, check_evaluations, run_products
from tests.fixtures.slack_api import TEST_TOKEN
from tests.monitoring.run_replay import partition, tick
from tests.monitoring.scenario_catalog import day_of
from tests.monitoring.scenarios import Scenario

PROPENSITY = ("user_features", "propensity_model", "propensity_scores")


def performance_observations(instance) -> list:
    """propensity_scores' metric observations (its steps' attempt records are observations too)."""
    records = instance.fetch_observations(dg.AssetKey("propensity_scores"), limit=100).records
    return [r for r in records if METRIC_KEY in r.asset_observation.metadata]


def test_propensity_labels_become_an_auc_observation_without_rerunning_the_scores(warehouse, instance, slack_api):
    defs = assemble_definitions(
        product_assets(), "local",
        resources={"synthetic": SyntheticData(), "alert_sink": AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)},
    )
    result = run_products(defs, instance, DAY, *PROPENSITY)
    assert result.success
    coverage = check_evaluations(result)[("propensity_scores", "prediction_coverage")]
    assert coverage.passed and coverage.metadata["covered_share"].value == 1.0  # every user_features user is scored
    cursor = tick(defs, SENSOR_NAME, instance, None)
    assert not metric_observations(instance)  # no labels yet (the monitoring check's summary is an observation too)

    assert run_products(defs, instance, DAY, "propensity_labels").success  # the labels land
    tick(defs, SENSOR_NAME, instance, cursor)
    [record] = metric_observations(instance)
    assert record.event_log_entry.dagster_event.partition == DAY
    metadata = record.asset_observation.metadata
    assert metadata["metric"].value == "auc" and metadata[METRIC_KEY].value > 0.6  # above the declared floor
    assert metadata["label_table"].value == "propensity_labels" and metadata["labelled_rows"].value == 2000
    assert len(instance.fetch_materializations(dg.AssetKey("propensity_scores"), limit=5).records) == 1
    assert slack_api.messages == []  # healthy: nothing to say


def metric_observations(instance) -> list:
    records = instance.fetch_observations(dg.AssetKey("propensity_scores"), limit=10).records
    return [r for r in records if METRIC_KEY in r.asset_observation.metadata]


GATED = Product("gated", owner="team:gated")
BROKEN = Scenario(break_day=2)


@prediction_table(
    GATED, slo="0 8 * * *",
    expectations=Expectations(key_columns=("user_id",), score_column="score"),
    monitoring=Monitoring(fallback_column="is_fallback", error_blocks_consumers=True),
)
def gated_scores(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return BROKEN.predictions(day_of(context))


@feature_table(GATED, slo="0 9 * * *")
def gated_campaign(context: dg.AssetExecutionContext, gated_scores: pd.DataFrame) -> pd.DataFrame:
    return gated_scores.assign(selected=gated_scores["score"] > 0.5)[["date", "user_id", "selected"]]


def test_error_blocks_consumers_in_the_run_and_through_the_gate_in_later_runs(warehouse, instance):
    defs = assemble_definitions([gated_scores, gated_campaign], "local")
    for day in (0, 1):
        assert run_products(defs, instance, partition(day), "gated_scores", "gated_campaign").success
    broken = run_products(defs, instance, partition(2), "gated_scores", "gated_campaign")
    drift = check_evaluations(broken)[("gated_scores", "prediction_drift")]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.ERROR
    assert not broken.success
    assert "gated_campaign" not in {e.asset_key.to_user_string() for e in broken.get_asset_materialization_events()}

    later = run_products(defs, instance, partition(2), "gated_campaign")  # the consumer's own schedule, later
    assert not later.success
    failure = next(e for e in later.all_events if e.is_step_failure)
    assert "failed its check(s) prediction_drift with ERROR" in failure.event_specific_data.error.to_string()
