"""Adding a product is one new module under ml_platform/defs/ and no other edit: Dagster's loader
finds it, what the module defines itself (its own check, job and sensor) loads as written, and
the platform schedules, checks and alerts its tables from the declarations."""

import shutil
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

import ml_platform.defs
from ml_platform.alerting import Alert, AlertSink
from ml_platform.declaration import DECLARATION_KEY, MLAsset, PredictionTable, declarations
from ml_platform.definitions import build_definitions, product_definitions
from ml_platform.slo.alerts import evaluate_slo_tick
from tests.test_asset_graph_snapshot import SNAPSHOT, describe, render, snapshot_groups

CHURN_MODULE = '''
"""Churn: daily churn scores per user for the retention team."""

import dagster as dg
import pandas as pd

from ml_platform.declaration import Expectations
from ml_platform.decorators import Product, feature_table, prediction_table

CHURN = Product("churn", owner="team:retention", timezone="Asia/Tokyo", alert_channel="#churn-alerts")


@feature_table(CHURN, slo="0 9 * * *", expectations=Expectations(key_columns=("user_id",)))
def churn_features() -> pd.DataFrame:
    return pd.DataFrame({"date": ["2026-03-10"], "user_id": [1], "days_inactive": [3]})


@prediction_table(
    CHURN, slo="0 10 * * *",
    expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
)
def churn_scores(churn_features: pd.DataFrame) -> pd.DataFrame:
    return churn_features.assign(score=0.5)[["date", "user_id", "score"]]


# What the team writes itself, in plain Dagster, next to its tables.
@dg.asset_check(asset=churn_scores)
def churn_scores_not_all_equal(churn_scores: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=churn_scores["score"].nunique() > 1)


churn_weekly_refresh = dg.define_asset_job("churn_weekly_refresh", selection=[churn_features, churn_scores])


@dg.sensor(job=churn_weekly_refresh, minimum_interval_seconds=3600)
def churn_model_registry():
    return dg.SkipReason("no new model")
'''


class RecordingSink(AlertSink):
    def model_post_init(self, _context) -> None:
        object.__setattr__(self, "delivered", [])

    def send(self, alert: Alert) -> None:
        self.delivered.append(alert)


@pytest.fixture
def defs_folder(tmp_path, monkeypatch):
    """A copy of ml_platform/defs/, loaded as the ml_platform.defs package: add modules to it."""
    copy = tmp_path / "defs"
    shutil.copytree(Path(ml_platform.defs.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(ml_platform.defs, "__path__", [str(copy)])
    monkeypatch.setattr(ml_platform.defs, "__file__", str(copy / "__init__.py"))
    added = set(copy.glob("*.py"))
    yield copy
    for module in set(copy.glob("*.py")) - added:
        sys.modules.pop(f"ml_platform.defs.{module.stem}", None)


@pytest.fixture
def assets_with_a_fourth_product(defs_folder):
    (defs_folder / "churn.py").write_text(CHURN_MODULE)


def test_a_new_product_module_is_scheduled_checked_and_alerted_with_no_other_edit(local_env, assets_with_a_fourth_product):
    defs = build_definitions("local")
    graph = defs.resolve_asset_graph()
    tables = {d.name: d for d in declarations(graph).values() if isinstance(d, PredictionTable)}
    assert tables["churn_scores"].product == "churn" and tables["churn_scores"].owner == "team:retention"

    schedule = defs.resolve_schedule_def("churn_schedule")
    tick = datetime(2026, 3, 10, 7, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-10"
    assert {k.to_user_string() for k in request.asset_selection} == {"churn_features", "churn_scores"}

    checks = {c.name for c in graph.get(dg.AssetKey("churn_scores")).check_keys}
    assert any("row_count" in name for name in checks)

    sink = RecordingSink(ui_url="http://dagster.test")
    with dg.instance_for_test() as instance:
        result = evaluate_slo_tick(instance, graph, None, sink, datetime(2026, 3, 10, 10, 10, tzinfo=ZoneInfo("Asia/Tokyo")))
    [alert] = [a for a in result.raised if a.asset == "churn_scores"]
    assert alert.channel == "#churn-alerts"

    # The team's own check, job and sensor load as written, beside the platform's.
    assert "churn_scores_not_all_equal" in checks
    assert defs.resolve_job_def("churn_weekly_refresh").name == "churn_weekly_refresh"
    assert defs.resolve_sensor_def("churn_model_registry").job_name == "churn_weekly_refresh"

    # The example products' snapshot still holds (its sensors are the location's: less the new one).
    described = describe(defs, snapshot_groups())
    described["sensors"].remove("churn_model_registry")
    assert render(described) == SNAPSHOT.read_text()


PRODUCT_EXECUTOR = '''
import dagster as dg


@dg.definitions
def defs():
    return dg.Definitions(executor=dg.in_process_executor)
'''

PRODUCT_SINK = '''
import dagster as dg


@dg.definitions
def defs():
    return dg.Definitions(resources={"alert_sink": dg.ResourceDefinition.none_resource()})
'''


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (PRODUCT_EXECUTOR, "sets an executor: the platform's routing executor runs every step"),
        (PRODUCT_SINK, "resource 'alert_sink' of a product module in ml_platform/defs/ clashes with the platform's"),
    ],
)
def test_a_product_executor_or_a_platform_resource_key_fails_at_load(local_env, defs_folder, module, message):
    (defs_folder / "team_overrides.py").write_text(module)
    with pytest.raises(dg.DagsterInvalidDefinitionError, match=message):
        build_definitions("local")


def test_the_declarations_are_read_once_per_asset_per_load(local_env, monkeypatch):
    declared = product_definitions().assets  # imports the product modules before counting
    reads = []
    from_dict = MLAsset.from_dict

    def counted(data):
        reads.append(data["name"])
        return from_dict(data)

    monkeypatch.setattr(MLAsset, "from_dict", staticmethod(counted))
    graph = build_definitions("local").resolve_asset_graph()
    names = {spec.key.to_user_string() for a in declared for spec in a.specs if DECLARATION_KEY in spec.metadata}
    assert sorted(reads) == sorted(names) and len(names) == 9
    # A sensor tick reads the declarations of its repository's graph: once per graph, not per tick.
    reads.clear()
    assert declarations(graph) == declarations(graph)
    assert len(reads) == len(names)

