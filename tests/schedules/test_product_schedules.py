from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ml_platform.declaration import SLO, DeclarationError, Expectations, PredictionTable, declarations
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
        build_product_schedules([_early])
