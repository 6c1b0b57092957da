"""Adding a product is one new module under ml_platform/assets/ and no other edit: the module is
discovered, and the platform schedules, checks and alerts its tables from the declarations."""

import shutil
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

import ml_platform.assets
from ml_platform.alerting import Alert, AlertSink
from ml_platform.declaration import PredictionTable, declarations
from ml_platform.definitions import build_definitions
from ml_platform.slo.alerts import evaluate_slo_tick
from tests.test_asset_graph_snapshot import SNAPSHOT, describe, render, snapshot_groups

CHURN_MODULE = '''
"""Churn: daily churn scores per user for the retention team."""

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
'''


class RecordingSink(AlertSink):
    def model_post_init(self, _context) -> None:
        object.__setattr__(self, "delivered", [])

    def send(self, alert: Alert) -> None:
        self.delivered.append(alert)


@pytest.fixture
def assets_with_a_fourth_product(tmp_path, monkeypatch):
    """A copy of ml_platform/assets/ plus one new module, loaded as the ml_platform.assets package."""
    copy = tmp_path / "assets"
    shutil.copytree(Path(ml_platform.assets.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "churn.py").write_text(CHURN_MODULE)
    monkeypatch.setattr(ml_platform.assets, "__path__", [str(copy)])
    yield
    sys.modules.pop("ml_platform.assets.churn", None)


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

    # The example products' snapshot still holds: the new product needs no regenerated snapshot.
    assert render(describe(defs, snapshot_groups())) == SNAPSHOT.read_text()

