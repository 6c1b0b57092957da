"""Each prediction sanity check fails on a crafted bad table, alone and in a real run."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from ml_platform.checks import sanity
from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.checks.verdict import ERROR, PASS, WARN
from ml_platform.declaration import SLO, Expectations, PredictionTable, declared_specs
from ml_platform.resources.warehouse import warehouse_resources

EXPECT = Expectations(key_columns=("user_id", "article_id"), score_column="score", score_range=(0.0, 1.0), top_k=2)


def good_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Timestamp("2026-03-10"),
            "user_id": [1, 1, 2, 2, 3, 3],
            "article_id": [10, 11, 10, 12, 11, 12],
            "score": [0.9, 0.5, 0.8, 0.1, 0.7, 0.0],
        }
    )


def outcomes(frame: pd.DataFrame) -> dict[str, str]:
    return {v.check: v.outcome for v in sanity.assess_table(frame, EXPECT)}


def test_a_good_table_passes_every_content_check():
    assert outcomes(good_table()) == dict.fromkeys(sanity.table_check_names(EXPECT), PASS)


def test_null_key_or_score_fails_null_rate():
    frame = good_table().astype({"score": float})
    frame.loc[0, "score"] = np.nan
    verdict = sanity.assess_nulls(frame, EXPECT)
    assert verdict.outcome == ERROR and "score" in verdict.summary
    assert verdict.metadata["null_rates"]["score"] == pytest.approx(1 / 6)


def test_declared_null_tolerance_lets_a_few_nulls_pass():
    frame = good_table().astype({"score": float})
    frame.loc[0, "score"] = np.nan
    tolerant = Expectations(key_columns=("user_id", "article_id"), score_column="score", max_null_rate=0.2)
    assert sanity.assess_nulls(frame, tolerant).outcome == PASS


def test_score_outside_range_fails_with_examples():
    frame = good_table()
    frame.loc[1, "score"] = 1.7
    verdict = sanity.assess_score_range(frame, EXPECT)
    assert verdict.outcome == ERROR and "1.7" in verdict.summary and verdict.metadata["outside"] == 1


def test_repeated_key_fails_duplicate_keys():
    frame = pd.concat([good_table(), good_table().head(1)])
    verdict = sanity.assess_duplicates(frame, EXPECT)
    assert verdict.outcome == ERROR and verdict.metadata["duplicate_rows"] == 1


def test_user_with_fewer_than_k_rows_fails_top_k_completeness():
    frame = good_table().drop(index=5)
    verdict = sanity.assess_top_k(frame, EXPECT)
    assert verdict.outcome == ERROR and verdict.metadata["examples"] == {"3": 1}


def test_missing_declared_column_fails_naming_it():
    verdict = sanity.assess_nulls(good_table().drop(columns="score"), EXPECT)
    assert verdict.outcome == ERROR and "score" in verdict.summary and "missing" in verdict.summary


def test_removed_or_retyped_column_errors_and_added_column_warns():
    before = {"user_id": "int64", "score": "float64"}
    assert sanity.assess_schema_change({"user_id": "int64"}, before).outcome == ERROR
    assert sanity.assess_schema_change({"user_id": "object", "score": "float64"}, before).outcome == ERROR
    assert sanity.assess_schema_change({**before, "rank": "int64"}, before).outcome == WARN
    assert sanity.assess_schema_change(before, before).outcome == PASS
    assert sanity.assess_schema_change(before, None).outcome == PASS


BAD = PredictionTable(
    name="crafted_predictions",
    product="crafted",
    owner="team:quality",
    slo=SLO("0 8 * * *"),
    compute="small",
    retries=0,
    expectations=EXPECT,
)


class Variant(dg.ConfigurableResource):
    """Which crafted table the asset writes."""

    kind: str = "good"


@dg.asset(**BAD.asset_kwargs())
def crafted_predictions(context: dg.AssetExecutionContext, variant: Variant) -> pd.DataFrame:
    frame = good_table().assign(date=pd.Timestamp(context.partition_key))
    if variant.kind == "bad":
        frame = pd.concat([frame, frame.head(1)]).astype({"score": float})  # duplicate key, user 1 has 3 rows
        frame.iloc[2, frame.columns.get_loc("score")] = np.nan
        frame.iloc[3, frame.columns.get_loc("score")] = -0.5
    if variant.kind == "retyped":
        frame = frame.astype({"article_id": str})  # the warehouse casts it back; readers of the frame see strings
    return frame


def run_crafted(instance, partition: str, kind: str) -> dict[str, dg.AssetCheckEvaluation]:
    checks = build_quality_checks(declared_specs([crafted_predictions]))
    result = dg.materialize(
        [crafted_predictions, *checks],
        partition_key=partition,
        instance=instance,
        resources={**warehouse_resources("local"), "variant": Variant(kind=kind)},
        raise_on_error=False,
    )
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_each_content_check_fails_on_a_crafted_bad_table_in_a_real_run(warehouse, instance):
    evaluations = run_crafted(instance, "2026-03-10", "bad")
    failed = {name for name, e in evaluations.items() if not e.passed}
    assert failed == {"null_rate", "score_range", "duplicate_keys", "top_k_completeness"}
    assert all(evaluations[n].severity == dg.AssetCheckSeverity.ERROR for n in failed)


def test_schema_change_fails_against_the_previous_materialization_in_a_real_run(warehouse, instance):
    assert all(e.passed for e in run_crafted(instance, "2026-03-09", "good").values())
    schema = run_crafted(instance, "2026-03-10", "retyped")["column_schema_change"]
    assert not schema.passed and schema.severity == dg.AssetCheckSeverity.ERROR
    assert schema.metadata["type_changes"].data == {"article_id": "int64 -> object"}


def test_a_rerun_that_fixes_a_retyped_day_is_compared_with_the_day_before_not_its_broken_version(warehouse, instance):
    assert all(e.passed for e in run_crafted(instance, "2026-03-09", "good").values())
    assert not run_crafted(instance, "2026-03-10", "retyped")["column_schema_change"].passed
    fixed = run_crafted(instance, "2026-03-10", "good")["column_schema_change"]
    assert fixed.passed, fixed.metadata  # int64 again, as on 2026-03-09
