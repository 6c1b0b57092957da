"""The example products as a plain Dagster code location: the baseline of ``benchmarks.example_load``.

The same eight assets as ``ml_platform/defs/`` (names, groups, deps, Asia/Tokyo daily partitions,
retries, the DuckDB and pickle IO managers), the same check names on the same tables (one check op
per table with expectations, one monitoring op per monitored prediction table), one schedule per
product, each table's deadline as the same ``FreshnessPolicy.cron`` and the synthetic-data resource,
written with Dagster alone: no ``ml_platform`` import.
Bodies are stand-ins that import their libraries where they are used, as the product modules do;
a load never runs them. What the platform adds to a load (declarations, metadata, step
metrics, sensors, executor, reports) is the difference between the two sides.
"""

import os
from datetime import timedelta
from functools import cache
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb_pandas import DuckDBPandasIOManager

TOKYO = "Asia/Tokyo"
DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone=TOKYO, end_offset=1)
RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)
HISTORY_AND_CONTENT = ("row_count_change", "row_count_decline", "column_schema_change", "null_rate", "duplicate_keys")
SCORED = (*HISTORY_AND_CONTENT, "score_range")
TOP_K = (*SCORED, "top_k_completeness")


class Synthetic(dg.ConfigurableResource):
    seed: int = 0


@cache  # one policy per deadline, as the platform shares them
def _deadline(cron: str, days: int = 1) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.cron(deadline_cron=cron, lower_bound_delta=timedelta(days=days), timezone=TOKYO)


def _table(name: str, group: str, deadline: str, deps: dict[str, str] | None = None):
    """A daily table reading ``deps`` (input name -> asset) as frames of the same partition."""

    def body(context: dg.AssetExecutionContext, **inputs) -> pd.DataFrame:
        from sklearn.preprocessing import StandardScaler  # imported where used, as the product modules do

        values = StandardScaler().fit_transform(np.arange(10.0).reshape(-1, 1)).ravel()
        return pd.DataFrame({"date": pd.Timestamp(context.partition_key), "value": values})

    return dg.asset(
        name=name, group_name=group, partitions_def=DAILY, retry_policy=RETRY, metadata={"partition_expr": "date"},
        freshness_policy=_deadline(deadline),
        ins={arg: dg.AssetIn(upstream) for arg, upstream in (deps or {}).items()}, required_resource_keys={"synthetic"},
    )(body)


def _model(name: str, group: str, deadline: str, upstream: str):
    def body(context: dg.AssetExecutionContext, **inputs):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression()

    return dg.asset(
        name=name, group_name=group, retry_policy=dg.RetryPolicy(max_retries=1, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        io_manager_key="model_io_manager", ins={upstream: dg.AssetIn(upstream)}, freshness_policy=_deadline(deadline, 7),
    )(body)


def _checks(table: str, names: tuple[str, ...], suffix: str, blocking: bool) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(table)

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(n, asset=key, blocking=blocking, partitions_def=DAILY) for n in names],
        name=f"{table}_{suffix}",
    )
    def checks(context: dg.AssetCheckExecutionContext):
        for n in names:
            yield dg.AssetCheckResult(asset_key=key, check_name=n, passed=True)

    return checks


ASSETS = [
    _table("article_texts", "related_content", "0 6 * * *"),
    _table("related_articles", "related_content", "0 6 * * *", {"article_texts": "article_texts"}),
    _table("user_article_interactions", "article_recs", "0 6 * * *"),
    _model("article_recs_model", "article_recs", "0 6 * * 1", "user_article_interactions"),
    _table("article_recommendations", "article_recs", "0 8 * * *", {
        "user_article_interactions": "user_article_interactions", "article_recs_model": "article_recs_model",
        "related_articles": "related_articles",
    }),
    _table("user_features", "propensity", "0 7 * * *"),
    _model("propensity_model", "propensity", "0 7 * * 1", "user_features"),
    _table("propensity_labels", "propensity", "0 9 * * *", {"user_features": "user_features"}),
    _table("propensity_scores", "propensity", "0 9 * * *", {"user_features": "user_features", "propensity_model": "propensity_model"}),
]
CHECKS = [
    _checks("article_texts", HISTORY_AND_CONTENT, "quality_checks", True),
    _checks("related_articles", TOP_K, "quality_checks", True),
    _checks("user_article_interactions", HISTORY_AND_CONTENT, "quality_checks", True),
    _checks("article_recommendations", TOP_K, "quality_checks", True),
    _checks("user_features", HISTORY_AND_CONTENT, "quality_checks", True),
    _checks("propensity_labels", HISTORY_AND_CONTENT, "quality_checks", True),
    _checks("propensity_scores", SCORED, "quality_checks", True),
    *(_checks(t, ("prediction_drift", "prediction_coverage"), "prediction_monitoring", False)
      for t in ("related_articles", "article_recommendations", "propensity_scores")),
]
SCHEDULES = [
    dg.ScheduleDefinition(name=f"{group}_schedule", cron_schedule=cron, execution_timezone=TOKYO, target=dg.AssetSelection.groups(group))
    for group, cron in (("related_content", "0 4 * * *"), ("article_recs", "0 4 * * *"), ("propensity", "0 5 * * *"))
]


@dg.definitions
def defs() -> dg.Definitions:
    database = os.environ.get("ML_PLATFORM_DUCKDB_PATH") or ".ml_platform/warehouse.duckdb"
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        schedules=SCHEDULES,
        resources={
            "io_manager": DuckDBPandasIOManager(database=database, schema="ml_platform"),
            "model_io_manager": dg.FilesystemIOManager(base_dir=str(Path(database).parent / "models")),
            "synthetic": Synthetic(),
        },
    )
