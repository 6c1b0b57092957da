"""Right-sizing recommends from recorded peak memory, flagging over- and under-provisioned assets."""

import dagster as dg

from ml_platform.compute.auto_memory import ESCALATIONS_KEY, MEMORY_KEY
from ml_platform.compute.pricing import PRICE_SHEET_ENV
from ml_platform.compute.profiles import PROFILES
from ml_platform.compute.rightsizing import NO_DATA, OK, OVER, UNDER, format_table, p95, recommend, recommend_all
from ml_platform.compute.step_usage import DURATION_KEY, OUTCOME_KEY, PEAK_MEMORY_KEY, STARTUP_KEY, SUCCEEDED
from ml_platform.definitions import build_definitions
from tests.fixtures.price_sheets import write_price_sheet


def test_p95_is_nearest_rank():
    assert p95(list(range(1, 101))) == 95
    assert p95([7.0]) == 7.0


def test_large_asset_using_little_memory_is_over_provisioned_and_gets_the_smallest_fitting_profile():
    result = recommend("related_articles", PROFILES["large"], [600, 700, 650, 720], margin=0.25)
    assert (result.verdict, result.recommended) == (OVER, "small")  # 720 MiB * 1.25 = 900 MiB <= 1 GiB


def test_asset_whose_p95_exceeds_its_profile_is_under_provisioned():
    result = recommend("scores", PROFILES["small"], [900] * 19 + [3000], margin=0.25)
    assert result.p95_peak_mib == 900 and result.verdict == UNDER and result.recommended == "large"


def test_gpu_asset_is_only_offered_gpu_profiles_and_no_data_is_reported():
    assert recommend("m", PROFILES["gpu"], [100], margin=0.25).recommended == "gpu"
    assert recommend("m", PROFILES["gpu"], [100], margin=0.25).verdict == OK
    assert recommend("m", PROFILES["small"], [], margin=0.25).verdict == NO_DATA


def test_recommendations_read_the_peaks_of_successful_attempts(tmp_path):
    defs = build_definitions("local")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for peak in (300, 320, 310):
            instance.report_runless_asset_event(
                dg.AssetObservation("related_articles", metadata={PEAK_MEMORY_KEY: float(peak), OUTCOME_KEY: SUCCEEDED})
            )
        by_asset = {r.asset: r for r in recommend_all(defs, instance)}
    assert by_asset["related_articles"].samples == 3
    assert by_asset["related_articles"].verdict == OVER  # declared 'large' (16Gi)
    assert by_asset["article_texts"].verdict == NO_DATA


def test_report_shows_the_automatic_size_and_out_of_memory_escalations(tmp_path):
    defs = build_definitions("local")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for memory, escalations in (("512Mi", 0), ("768Mi", 1), ("768Mi", 0)):  # oldest first
            metadata = {PEAK_MEMORY_KEY: 400.0, MEMORY_KEY: memory, ESCALATIONS_KEY: escalations}
            instance.report_runless_asset_event(dg.AssetMaterialization("related_articles", metadata=metadata))
        by_asset = {r.asset: r for r in recommend_all(defs, instance)}
    assert (by_asset["related_articles"].auto_memory, by_asset["related_articles"].oom_escalations) == ("768Mi", 1)
    assert "768Mi" in format_table([by_asset["related_articles"]])


def test_each_recommendation_shows_the_money_it_saves_per_day(tmp_path, monkeypatch):
    monkeypatch.setenv(PRICE_SHEET_ENV, str(write_price_sheet(tmp_path)))
    defs = build_definitions("local")
    durations = {"2026-03-08": [30.0], "2026-03-09": [40.0, 20.0], "2026-03-10": [50.0]}  # one rerun on 03-09
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for partition, seconds in durations.items():
            for duration in seconds:
                metadata = {PEAK_MEMORY_KEY: 600.0, DURATION_KEY: duration - 2.0, STARTUP_KEY: 2.0, OUTCOME_KEY: SUCCEEDED}
                instance.report_runless_asset_event(dg.AssetObservation("related_articles", partition=partition, metadata=metadata))
        killed = {PEAK_MEMORY_KEY: 1024.0, DURATION_KEY: 99.0, OUTCOME_KEY: "oom_killed"}  # not a need the step showed
        instance.report_runless_asset_event(dg.AssetObservation("related_articles", partition="2026-03-10", metadata=killed))
        by_asset = {r.asset: r for r in recommend_all(defs, instance)}
    related = by_asset["related_articles"]
    assert (related.profile, related.recommended) == ("large", "small")
    # large $43200/h, small $3600/h under the test sheet; 140 s of steps over 3 days of data.
    assert related.saving_usd_per_day == round((43200 - 3600) * (140 / 3600) / 3, 6)
    assert f"+{related.saving_usd_per_day:,.2f}" in format_table([related])
    assert by_asset["article_texts"].saving_usd_per_day is None  # no recorded steps
