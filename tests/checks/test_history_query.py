"""The one history read: which partitions it asks for, and tuning read back from the declaration."""

import dagster as dg

from ml_platform.checks.quality_checks import build_quality_checks, history_query
from ml_platform.declaration import SLO, Expectations, PredictionTable, RowCountPolicy, declared_specs, read_declaration


def declared(policy: RowCountPolicy) -> PredictionTable:
    return PredictionTable(
        name="tuned_predictions",
        product="tuned",
        owner="team:quality",
        slo=SLO("0 8 * * *", timezone="Asia/Tokyo"),
        compute="small",
        expectations=Expectations(key_columns=("user_id",), row_count=policy),
    )


def test_backfilled_partition_asks_for_itself_and_the_partitions_before_it():
    table = declared(RowCountPolicy())
    records_filter, limit = history_query(
        dg.AssetKey("tuned_predictions"), table.partitions_def, "2026-02-10", table.expectations.row_count
    )
    assert records_filter.asset_partitions[0] == "2026-02-10"
    assert records_filter.asset_partitions[1:3] == ["2026-02-09", "2026-02-08"]
    assert len(records_filter.asset_partitions) == 11 and limit == 33  # 10 earlier partitions, re-runs allowed


def test_history_stops_at_the_first_partition():
    table = declared(RowCountPolicy())
    records_filter, _ = history_query(dg.AssetKey("t"), table.partitions_def, "2026-01-03", table.expectations.row_count)
    assert records_filter.asset_partitions == ["2026-01-03", "2026-01-02", "2026-01-01"]


def test_tuning_is_read_back_from_the_asset_metadata():
    policy = RowCountPolicy(history=4, warn_drop=0.3, error_drop=0.5, weekly_seasonality=True)
    table = declared(policy)

    @dg.asset(**table.asset_kwargs())
    def tuned_predictions() -> None: ...

    assert read_declaration(tuned_predictions.specs_by_key[tuned_predictions.key].metadata).expectations.row_count == policy
    records_filter, _ = history_query(tuned_predictions.key, table.partitions_def, "2026-03-10", policy)
    assert len(records_filter.asset_partitions) == 1 + 7 * 4  # four same weekdays back
    (checks,) = build_quality_checks(declared_specs([tuned_predictions]))
    assert {k.name for k in checks.check_keys} == {
        "row_count_change", "row_count_decline", "column_schema_change", "null_rate", "duplicate_keys"
    }
