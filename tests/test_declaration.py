from datetime import timedelta

import pytest

from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import (
    SLO,
    DeclarationError,
    Expectations,
    FeatureTable,
    MLAsset,
    Model,
    PredictionTable,
    RowCountPolicy,
    read_declaration,
)

EXPECTATIONS = Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0))


def table(**changes) -> PredictionTable:
    fields = dict(
        name="article_recs", product="recs", owner="team:recs", slo=SLO("0 8 * * *", "Asia/Tokyo"),
        compute="small", expectations=EXPECTATIONS,
    )
    return PredictionTable(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes, field, words",
    [
        (dict(slo=SLO("0 25 * * *", "Asia/Tokyo")), "slo.deadline_cron", "invalid cron '0 25 * * *'"),
        (dict(slo=SLO("0 8 * * *", "Asia/Tokio")), "slo.timezone", "unknown time zone 'Asia/Tokio'"),
        (dict(compute="huge"), "compute", f"unknown compute profile 'huge' (known: {', '.join(PROFILES)})"),
        (dict(partition_column=None), "partition_column", "daily-partitioned"),
        (dict(partition_column=""), "partition_column", "daily-partitioned"),
        (
            dict(expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(1.0, 0.0))),
            "expectations.score_range",
            "min 1.0 is greater than max 0.0",
        ),
        (dict(owner="recs team"), "owner", "neither an email nor 'team:<name>'"),
        (dict(slo=SLO("0 8 * * *", warn_margin=timedelta(days=2))), "slo.warn_margin", "between 0 and the window"),
        (
            dict(expectations=Expectations(key_columns=("u",), row_count=RowCountPolicy(warn_drop=0.3, error_drop=0.2))),
            "expectations.row_count",
            "warn_drop <= error_drop",
        ),
    ],
)
def test_bad_declaration_fails_at_load_naming_table_and_field(changes, field, words):
    with pytest.raises(DeclarationError) as error:
        table(**changes)
    message = str(error.value)
    assert message.startswith(f"prediction table 'article_recs': field '{field}': ")
    assert words in message


def test_several_problems_are_counted_in_one_message():
    with pytest.raises(DeclarationError, match=r"field 'slo.timezone'.*\(and 1 more: compute\)"):
        table(slo=SLO("0 8 * * *", "Nowhere/City"), compute="huge")


def test_kind_label_names_the_asset_kind():
    with pytest.raises(DeclarationError, match="^model 'm': field 'partition_column'"):
        Model(name="m", product="p", owner="a@b.io", slo=SLO("0 6 * * 1"), compute="training", partition_column="date")
    with pytest.raises(DeclarationError, match="^feature table 'f': field 'compute'"):
        FeatureTable(name="f", product="p", owner="a@b.io", slo=SLO("0 6 * * *"), compute="xl")


def test_declaration_round_trips_through_asset_metadata():
    original = table(alert_channel="#recs", slo=SLO("30 7 * * *", "Asia/Tokyo", warn_margin=timedelta(minutes=20)))
    metadata = original.asset_kwargs()["metadata"]
    assert read_declaration(metadata) == original
    model = Model(name="m", product="p", owner="a@b.io", slo=SLO("0 6 * * 1", window=timedelta(days=7)), compute="training")
    assert MLAsset.from_dict(model.to_dict()) == model


def test_same_deadline_shares_one_freshness_policy_and_partitions_definition():
    first, second = table(name="a"), table(name="b")
    assert first.asset_kwargs()["freshness_policy"] is second.asset_kwargs()["freshness_policy"]
    assert first.partitions_def is second.partitions_def
    other = table(name="c", slo=SLO("0 9 * * *", "Asia/Tokyo"))
    assert other.asset_kwargs()["freshness_policy"] is not first.asset_kwargs()["freshness_policy"]


def test_asset_kwargs_carry_compute_owner_retries_and_partition_column():
    kwargs = table(compute="large", retries=3).asset_kwargs()
    assert kwargs["op_tags"]["ml_platform/compute"] == "large"
    assert kwargs["owners"] == ["team:recs"]
    assert kwargs["retry_policy"].max_retries == 3
    assert kwargs["metadata"]["partition_expr"] == "date"
    assert kwargs["partitions_def"].timezone == "Asia/Tokyo"
