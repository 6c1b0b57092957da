"""Which materialization counts for which deadline: the per-partition SLO rule."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from ml_platform.declaration import SLO, Expectations, Model, PredictionTable, declaration_of
from ml_platform.defs import article_recs, propensity
from ml_platform.slo.deadlines import (
    Materialization,
    counts_for,
    deadline_partition,
    deadlines_between,
    latest_deadline,
)

TOKYO = ZoneInfo("Asia/Tokyo")
TABLE = PredictionTable(
    name="recs", product="p", owner="team:p", slo=SLO("0 8 * * *", timezone="Asia/Tokyo"), compute="small",
    expectations=Expectations(key_columns=("id",)),
)
MODEL = Model(name="m", product="p", owner="team:p", slo=SLO("0 6 * * 1", timezone="Asia/Tokyo", window=timedelta(days=7)), compute="small")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO)


def mat(when: str, partition: str | None) -> Materialization:
    return Materialization("recs", at(when).timestamp(), partition)


def test_deadline_judges_the_partition_of_its_own_date_in_the_slo_time_zone():
    deadline = latest_deadline(TABLE, at("2026-03-05T08:30"))
    assert deadline == at("2026-03-05T08:00")
    # 08:00 Tokyo is 23:00 UTC the day before: the partition is still the Tokyo date.
    assert deadline_partition(TABLE, deadline) == "2026-03-05"


def test_only_the_deadline_partition_inside_the_window_counts():
    deadline = at("2026-03-05T08:00")
    assert counts_for(TABLE, deadline, mat("2026-03-05T07:00", "2026-03-05"))
    assert counts_for(TABLE, deadline, mat("2026-03-05T10:00", "2026-03-05"))  # late, but counts
    assert not counts_for(TABLE, deadline, mat("2026-03-05T07:00", "2026-02-20"))  # backfill of an old partition
    assert not counts_for(TABLE, deadline, mat("2026-03-03T07:00", "2026-03-05"))  # before the window opened


def test_unpartitioned_model_counts_any_materialization_in_its_weekly_window():
    deadline = latest_deadline(MODEL, at("2026-03-11T12:00"))
    assert deadline == at("2026-03-09T06:00")  # the Monday before
    assert counts_for(MODEL, deadline, Materialization("m", at("2026-03-03T12:00").timestamp(), None))
    assert not counts_for(MODEL, deadline, Materialization("m", at("2026-03-02T05:00").timestamp(), None))


def test_deadlines_between_lists_each_deadline_once():
    assert deadlines_between(TABLE, at("2026-03-01T00:00"), at("2026-03-04T08:00")) == [
        at(f"2026-03-0{d}T08:00") for d in (1, 2, 3, 4)
    ]
    assert len(deadlines_between(MODEL, at("2026-03-01T00:00"), at("2026-03-31T00:00"))) == 5


def test_weekly_models_have_weekly_deadlines_and_share_policy_objects():
    for declaration in map(declaration_of, (article_recs.article_recs_model, propensity.propensity_model)):
        assert declaration.slo.deadline_cron.endswith("* * 1"), declaration.name
        assert declaration.slo.window == timedelta(days=7)
    assert declaration_of(article_recs.article_recommendations).slo.freshness_policy() is PredictionTable(
        name="other", product="x", owner="team:x", slo=SLO("0 8 * * *", timezone="Asia/Tokyo"), compute="small",
        expectations=Expectations(key_columns=("id",)),
    ).slo.freshness_policy()
    assert isinstance(declaration_of(article_recs.article_recommendations).slo.freshness_policy(), dg.FreshnessPolicy)
