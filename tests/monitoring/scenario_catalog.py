"""Four small products built on ``ml_platform.monitoring.scenarios``: each has an expected-users
table, a prediction table and a label table, and one of them goes wrong on ``ONSET``."""

from datetime import date

import dagster as dg
import pandas as pd

from ml_platform.declaration import PARTITIONS_START, Expectations
from ml_platform.decorators import Product, feature_table, prediction_table
from ml_platform.monitoring.scenarios import Scenario
from ml_platform.monitoring.settings import Monitoring

ONSET = 2  # day (0 = PARTITIONS_START) on which each broken scenario starts
SCENARIOS = {
    "stable": Scenario(),
    "feature_break": Scenario(break_day=ONSET),
    "fallback": Scenario(fallback_day=ONSET, fallback_ramp_days=2),
    "late_labels": Scenario(decay_day=ONSET, decay_per_day=0.2),
}


def day_of(context: dg.AssetExecutionContext) -> int:
    return (context.partition_time_window.start.date() - date.fromisoformat(PARTITIONS_START)).days


def scenario_assets(name: str, scenario: Scenario, with_users: bool) -> list[dg.AssetsDefinition]:
    product = Product(name, owner=f"team:{name}")
    users, scores, labels = f"{name}_users", f"{name}_scores", f"{name}_labels"

    def expected(context: dg.AssetExecutionContext) -> pd.DataFrame:
        day = day_of(context)
        return pd.DataFrame({"date": pd.Timestamp(context.partition_time_window.start.date()), "user_id": scenario.expected_users(day)})

    def predictions(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return scenario.predictions(day_of(context))

    def outcomes(context: dg.AssetExecutionContext) -> pd.DataFrame:
        frame = scenario.labels(day_of(context))
        frame.insert(0, "date", pd.Timestamp(context.partition_time_window.start.date()))
        return frame

    # Only the fallback product lists its expected users (coverage of expected entities); the
    # others watch the fallback share alone. Users and labels declare no expectations: fewer check
    # steps per run keep the test fast.
    monitoring = Monitoring(
        expected_entities=users if with_users else None, fallback_column="is_fallback", label_table=labels,
        metric="auc", decay_window=3, max_decay=0.08,
    )
    prediction = prediction_table(
        product,
        slo="0 8 * * *",
        deps=[users] if with_users else [],
        expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
        monitoring=monitoring,
    )(_named(predictions, scores))
    label_table = feature_table(product, slo="0 8 * * *")(_named(outcomes, labels))
    if not with_users:
        return [prediction, label_table]
    return [feature_table(product, slo="0 6 * * *")(_named(expected, users)), prediction, label_table]


def _named(fn, name: str):
    fn.__name__ = name
    return fn


def scenario_catalog() -> list[dg.AssetsDefinition]:
    return [asset for name, scenario in SCENARIOS.items() for asset in scenario_assets(name, scenario, name == "fallback")]
