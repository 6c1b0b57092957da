"""Small products built on ``tests.monitoring.scenarios``, declared as teams declare theirs: a
prediction table, and as a scenario needs them an expected-users table, a label table, a model, a
click log. Each goes wrong on the days its ``Scenario`` says."""

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd

from ml_platform.declaration import PARTITIONS_START, Expectations
from ml_platform.decorators import Product, feature_table, model, prediction_table
from ml_platform.monitoring.settings import Monitoring
from tests.monitoring.scenarios import Scenario

ONSET = 2  # day (0 = PARTITIONS_START) on which each broken scenario of test_monitoring_runs starts
SCENARIOS = {
    "stable": Scenario(),
    "feature_break": Scenario(break_day=ONSET),
    "fallback": Scenario(fallback_day=ONSET, fallback_ramp_days=2),
    "late_labels": Scenario(decay_day=ONSET, decay_per_day=0.2),
}


def day_of(context: dg.AssetExecutionContext) -> int:
    return (context.partition_time_window.start.date() - date.fromisoformat(PARTITIONS_START)).days


class LabelVersion(dg.Config):
    scrambled: bool = False  # labels that no longer follow the scores (a bad correction)


class ModelVersion(dg.Config):
    logit_shift: float = 0.0  # a retrained model scores everyone a little higher


def scenario_assets(
    name: str,
    scenario: Scenario,
    with_users: bool = False,
    with_labels: bool = True,
    with_model: bool = False,
    **monitoring,
) -> list[dg.AssetsDefinition]:
    product = Product(name, owner=f"team:{name}")
    users, scores, labels, model_name = f"{name}_users", f"{name}_scores", f"{name}_labels", f"{name}_model"

    def expected(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return pd.DataFrame({"date": pd.Timestamp(context.partition_time_window.start.date()), "user_id": scenario.expected_users(day_of(context))})

    def predictions(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return scenario.predictions(day_of(context))

    def predictions_of_model(context: dg.AssetExecutionContext, trained_model: dict) -> pd.DataFrame:
        frame = scenario.predictions(day_of(context))
        logit = np.log(frame["score"] / (1 - frame["score"])) + trained_model["logit_shift"]
        return frame.assign(score=1 / (1 + np.exp(-logit)))

    def outcomes(context: dg.AssetExecutionContext, config: LabelVersion) -> pd.DataFrame:
        frame = scenario.labels(day_of(context))
        if config.scrambled:
            frame["label"] = np.random.default_rng(day_of(context)).permutation(frame["label"].to_numpy())
        frame.insert(0, "date", pd.Timestamp(context.partition_time_window.start.date()))
        return frame

    def trained(config: ModelVersion) -> dict:
        return {"logit_shift": config.logit_shift}

    settings = dict(fallback_column="is_fallback", metric="auc", decay_window=3, max_decay=0.08)
    if with_users:
        settings["expected_entities"] = users
    if with_labels:
        settings["label_table"] = labels
    # Users, labels and models declare no expectations: fewer check steps per run keep the tests fast.
    found = []
    if with_users:
        found.append(feature_table(product, slo="0 6 * * *")(_named(expected, users)))
    if with_model:
        found.append(model(product, slo="0 5 * * *")(_named(trained, model_name)))
    found.append(
        prediction_table(
            product,
            slo="0 8 * * *",
            deps=[users] if with_users else [],
            ins={"trained_model": dg.AssetIn(model_name)} if with_model else {},
            expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
            monitoring=Monitoring(**{**settings, **monitoring}),
        )(_named(predictions_of_model if with_model else predictions, scores))
    )
    if with_labels:
        found.append(feature_table(product, slo="0 8 * * *")(_named(outcomes, labels)))
    return found


def _named(fn, name: str):
    fn.__name__ = name
    return fn


def scenario_catalog() -> list[dg.AssetsDefinition]:
    return [asset for name, scenario in SCENARIOS.items() for asset in scenario_assets(name, scenario, with_users=name == "fallback")]


GROUPS = 5  # users and items fall in taste groups: a user mostly clicks its group's items
ITEMS = 100


def click_log(day: int, users: int = 150, clicks: int = 20, seed: int = 5, scrambled: bool = False) -> pd.DataFrame:
    """Day ``day``'s clicks, mostly on popular items of each user's taste group. A scrambled log (a
    broken join upstream) pairs each click with a random row's item."""
    rng = np.random.default_rng([seed, day])
    user = np.repeat(np.sort(rng.choice(3000, users, replace=False)), clicks)
    popularity = 1 / np.arange(1, ITEMS // GROUPS + 1) ** 1.5
    rank = rng.choice(ITEMS // GROUPS, user.size, p=popularity / popularity.sum())
    item = np.where(rng.random(user.size) < 0.8, (user % GROUPS) + GROUPS * rank, rng.integers(0, ITEMS, user.size))
    if scrambled:
        item = rng.permutation(item)
    return pd.DataFrame({"user_id": user.astype("int64"), "item_id": item.astype("int64")})


def recommend(clicks: pd.DataFrame, k: int) -> pd.DataFrame:
    """Top-k items per user: 70 % how much the user's group clicked the item (against the group's
    most clicked), 30 % the user's own taste (fixed per user and item)."""
    counts = clicks.assign(group=clicks["user_id"] % GROUPS).groupby(["group", "item_id"]).size()
    popular = counts.unstack(fill_value=0).reindex(index=range(GROUPS), columns=range(ITEMS), fill_value=0).to_numpy(float)
    popular /= np.maximum(popular.max(axis=1, keepdims=True), 1)
    users = np.unique(clicks["user_id"])
    taste = np.stack([np.random.default_rng([11, u]).random(ITEMS) for u in users])
    score = 0.7 * popular[users % GROUPS] + 0.3 * taste
    top = np.argsort(-score, axis=1, kind="stable")[:, :k]
    return pd.DataFrame(
        {
            "user_id": np.repeat(users, k),
            "item_id": top.ravel().astype("int64"),
            "rank": np.tile(np.arange(1, k + 1), users.size),
            "score": np.take_along_axis(score, top, axis=1).ravel(),
        }
    )


def topk_assets(name: str, scramble_day: int, k: int = 5) -> list[dg.AssetsDefinition]:
    product = Product(name, owner=f"team:{name}")

    def clicks(context: dg.AssetExecutionContext) -> pd.DataFrame:
        day = day_of(context)
        return click_log(day, scrambled=day >= scramble_day).assign(date=pd.Timestamp(context.partition_time_window.start.date()))

    def recommendations(context: dg.AssetExecutionContext, clicks_input: pd.DataFrame) -> pd.DataFrame:
        return recommend(clicks_input, k).assign(date=pd.Timestamp(context.partition_time_window.start.date()))

    return [
        feature_table(product, slo="0 6 * * *")(_named(clicks, f"{name}_clicks")),
        prediction_table(
            product,
            slo="0 8 * * *",
            ins={"clicks_input": dg.AssetIn(f"{name}_clicks")},
            expectations=Expectations(key_columns=("user_id", "item_id"), score_column="score", score_range=(0.0, 1.0), top_k=k),
        )(_named(recommendations, f"{name}_recommendations")),
    ]
