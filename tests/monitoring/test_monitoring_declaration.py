"""The ``monitoring`` field of a prediction table: on by default, tunable, validated at load."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from ml_platform.assembly import assemble_definitions
from ml_platform.checks.prediction_monitoring import build_monitoring_checks, monitoring_op_name
from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import SLO, DeclarationError, Expectations, MLAsset, PredictionTable, declared_specs
from ml_platform.decorators import Product, feature_table, prediction_table
from ml_platform.monitoring.settings import Monitoring

SCORED = Expectations(key_columns=("user_id",), score_column="score")


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float:
    top = scores >= np.quantile(scores, 0.9)
    return float(labels[top].mean() / labels.mean())


def table(**changes) -> PredictionTable:
    fields = dict(name="scores", product="growth", owner="team:growth", slo=SLO("0 8 * * *"), compute="small", expectations=SCORED)
    return PredictionTable(**{**fields, **changes})


def test_on_by_default_with_a_score_column_and_off_on_request():
    assert table().monitoring_settings() == Monitoring(entity_column="user_id")  # entity: the first key column
    assert table(expectations=Expectations(key_columns=("user_id",))).monitoring_settings() is None
    assert table(monitoring=Monitoring(enabled=False)).monitoring_settings() is None


def test_monitoring_round_trips_through_asset_metadata_with_a_callable_metric():
    declared = table(monitoring=Monitoring(segment_columns=("country",), label_table="labels", metric=top_decile_lift, metric_floor=1.5))
    back = MLAsset.from_dict(declared.to_dict())
    assert back.monitoring.segment_columns == ("country",)
    assert back.monitoring.metric == "callable:tests.monitoring.test_monitoring_declaration:top_decile_lift"
    assert back.monitoring.metric_function() is top_decile_lift and back.monitoring.metric_name == "top_decile_lift"


@pytest.mark.parametrize(
    "monitoring, field, words",
    [
        (Monitoring(psi_warn=0.3, psi_error=0.2), "monitoring.psi_warn", "need 0 < psi_warn <= psi_error"),
        (Monitoring(reference_partitions=0), "monitoring.reference_partitions", "at least 1"),
        (Monitoring(metric="rmse"), "monitoring.metric", "unknown metric 'rmse'"),
        (Monitoring(metric=lambda y, s: 0.0), "monitoring.metric", "module-level function"),
        (Monitoring(fallback_column="is_fallback", fallback_score=0.5), "monitoring.fallback_score", "not both"),
        (Monitoring(segment_columns="country"), "monitoring.segment_columns", "tuple of column names"),
        (Monitoring(decay_window=1), "monitoring.decay_window", "at least 2"),
        (Monitoring(metric_floor=1.5), "monitoring.metric_floor", "within [0, 1]"),
        (Monitoring(significance=0.5), "monitoring.significance", "within (0, 0.5)"),
        (Monitoring(min_rows=5), "monitoring.min_rows", "at least 10"),
        ("strict", "monitoring", "must be a Monitoring(...)"),
    ],
)
def test_bad_monitoring_fails_at_load_naming_table_and_field(monitoring, field, words):
    with pytest.raises(DeclarationError) as error:
        table(monitoring=monitoring)
    assert str(error.value).startswith(f"prediction table 'scores': field '{field}': ")
    assert words in str(error.value)


def test_monitoring_needs_a_score_column():
    with pytest.raises(DeclarationError, match="field 'monitoring.enabled': monitoring needs expectations.score_column"):
        table(expectations=Expectations(key_columns=("user_id",)), monitoring=Monitoring(psi_warn=0.2))


GROWTH = Product("growth", owner="team:growth")


@feature_table(GROWTH, slo="0 6 * * *")
def active_users() -> pd.DataFrame:
    return pd.DataFrame()


def test_an_unknown_expected_entities_table_fails_at_assembly():
    @prediction_table(GROWTH, slo="0 8 * * *", expectations=SCORED, monitoring=Monitoring(expected_entities="active_user"))
    def scores() -> pd.DataFrame:
        return pd.DataFrame()

    with pytest.raises(DeclarationError, match="prediction table 'scores': field 'monitoring.expected_entities': no declared asset 'active_user'"):
        assemble_definitions([active_users, scores], "local")


def test_error_blocks_consumers_makes_the_checks_blocking():
    @prediction_table(GROWTH, slo="0 8 * * *", expectations=SCORED)
    def advisory() -> pd.DataFrame:
        return pd.DataFrame()

    @prediction_table(GROWTH, slo="0 8 * * *", expectations=SCORED, monitoring=Monitoring(error_blocks_consumers=True, expected_entities="active_users"))
    def gating() -> pd.DataFrame:
        return pd.DataFrame()

    assets = [active_users, advisory, gating]
    checks = {c.node_def.name: c for c in build_monitoring_checks(assets, declared_specs(assets))}
    assert set(checks) == {monitoring_op_name(dg.AssetKey("advisory")), monitoring_op_name(dg.AssetKey("gating"))}
    blocking = {spec.key.asset_key.to_user_string(): spec.blocking for c in checks.values() for spec in c.check_specs}
    assert blocking == {"advisory": False, "gating": True}
    assert {spec.name for spec in checks[monitoring_op_name(dg.AssetKey("gating"))].check_specs} == {"prediction_drift", "prediction_coverage"}


def test_coverage_is_checked_only_where_something_is_declared_and_the_checks_run_light():
    @prediction_table(GROWTH, slo="0 8 * * *", expectations=SCORED, compute="large")
    def bare() -> pd.DataFrame:
        return pd.DataFrame()

    @prediction_table(GROWTH, slo="0 8 * * *", expectations=SCORED, compute="gpu", monitoring=Monitoring(expected_entities="active_users"))
    def covered() -> pd.DataFrame:
        return pd.DataFrame()

    assets = [active_users, bare, covered]
    checks = {c.node_def.name: c for c in build_monitoring_checks(assets, declared_specs(assets))}
    names = {spec.key.asset_key.to_user_string(): set() for c in checks.values() for spec in c.check_specs}
    for c in checks.values():
        for spec in c.check_specs:
            names[spec.key.asset_key.to_user_string()].add(spec.name)
    assert names == {"bare": {"prediction_drift"}, "covered": {"prediction_drift", "prediction_coverage"}}
    for check in checks.values():  # never the table's large or GPU profile
        assert check.node_def.tags == PROFILES["light"].op_tags()
