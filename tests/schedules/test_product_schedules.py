from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ml_platform.declaration import (
    SLO,
    DeclarationError,
    Expectations,
    FeatureTable,
    Model,
    PredictionTable,
    declarations,
    declared_specs,
)
from ml_platform.schedules.cross_product_launch import with_launch_conditions
from ml_platform.schedules.product_schedules import build_product_schedules

TOKYO = ZoneInfo("Asia/Tokyo")


def schedule(defs, name) -> dg.ScheduleDefinition:
    return defs.resolve_schedule_def(name)


def tick(defs, name, when):
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
    return schedule(defs, name).evaluate_tick(context).run_requests


def test_one_schedule_per_product_starts_before_its_earliest_deadline(defs):
    names = sorted(s.name for s in defs.schedules)
    products = {d.product for d in declarations(defs.resolve_asset_graph()).values()}
    assert names == sorted([*(f"{product}_schedule" for product in products), "instance_history_purge"])  # + the platform's purge
    recs = schedule(defs, "article_recs_schedule")
    # earliest daily deadline 06:00 Tokyo (interactions), started 2 h before
    assert (recs.cron_schedule, recs.execution_timezone) == ("0 4 * * *", "Asia/Tokyo")


def test_daily_tick_requests_today_and_leaves_the_weekly_model_and_the_cross_product_table_out(defs):
    wednesday = datetime(2026, 11, 25, 4, 0, tzinfo=TOKYO)
    [request] = tick(defs, "article_recs_schedule", wednesday)
    assert request.partition_key == "2026-11-25"
    # article_recommendations reads related_content's table: launched on data, not by this clock
    assert {k.to_user_string() for k in request.asset_selection} == {"user_article_interactions"}


def test_monday_tick_retrains_the_weekly_model_in_the_same_run(defs):
    monday = datetime(2026, 11, 30, 4, 0, tzinfo=TOKYO)
    [request] = tick(defs, "article_recs_schedule", monday)
    assert request.partition_key == "2026-11-30"
    assert "article_recs_model" in {k.to_user_string() for k in request.asset_selection}


def test_deadline_too_early_for_the_same_day_fails_at_load():
    early = PredictionTable(
        name="early", product="p", owner="team:p", slo=SLO("30 1 * * *", "UTC"), compute="small",
        expectations=Expectations(key_columns=("id",)),
    )

    @dg.asset(**early.asset_kwargs())
    def _early():
        return None

    with pytest.raises(DeclarationError, match="prediction table 'early': field 'slo.start_before'"):
        build_product_schedules([_early], declared_specs([_early]))


def _declared(name, product, kind=PredictionTable, deps=(), slo="0 8 * * *"):
    extra = {"expectations": Expectations(key_columns=("id",))} if kind is PredictionTable else {}
    spec = kind(name=name, product=product, owner="team:t", slo=SLO(slo) if isinstance(slo, str) else slo, compute="small", **extra)

    @dg.asset(**spec.asset_kwargs(), deps=list(deps))
    def _asset():
        return None

    return _asset


def _defs(assets) -> dg.Definitions:
    catalog = declared_specs(assets)
    launched = with_launch_conditions(assets, catalog)
    return dg.Definitions(assets=launched, schedules=build_product_schedules(launched, catalog), resources={"model_io_manager": dg.FilesystemIOManager()})


def test_a_table_launched_on_data_keeps_the_run_it_needs_before_its_deadline():
    defs = _defs([
        _declared("source", "a", slo="0 3 * * *"),
        _declared("own_features", "p", kind=FeatureTable, slo="0 12 * * *"),  # on the clock, deadline 12:00
        _declared("early", "p", deps=["own_features", "source"], slo="0 6 * * *"),  # reads another product: on data
    ])
    assert schedule(defs, "p_schedule").cron_schedule == "0 4 * * *"  # early's 06:00, not own_features' 10:00 start


def test_a_product_left_with_only_a_model_still_loads_and_retrains_it_on_its_day():
    defs = _defs([
        _declared("source", "a", slo="0 3 * * *"),
        _declared("model", "b", kind=Model, deps=["source"], slo="0 6 * * 1"),
        _declared("reader", "b", deps=["model", "source"]),  # every daily table of b reads another product
    ])
    assert schedule(defs, "b_schedule").cron_schedule == "0 6 * * *"  # reader's 08:00 deadline needs the model run
    utc = ZoneInfo("UTC")
    [monday] = tick(defs, "b_schedule", datetime(2026, 3, 9, 6, tzinfo=utc))
    assert monday.asset_selection == [dg.AssetKey("model")] and monday.partition_key is None
    assert tick(defs, "b_schedule", datetime(2026, 3, 10, 6, tzinfo=utc)) == []  # Tuesday: nothing due


def test_a_schedule_that_cannot_be_timed_fails_at_load_saying_why():
    with pytest.raises(DeclarationError, match=r"product 'c': cannot time its schedule: none of model \(nor"):
        model = _declared("model", "c", kind=Model, slo=SLO("*/30 * * * *", window=timedelta(minutes=30)))
        build_product_schedules([model], declared_specs([model]))
