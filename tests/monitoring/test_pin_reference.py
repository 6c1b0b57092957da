"""``ml-platform pin-reference``: a person pins a prediction table's reference from a shell."""

import dagster as dg

from ml_platform.cli import main
from ml_platform.monitoring.reference_store import stored_pin

MODULE = ["--module", "tests.monitoring.scenario_definitions"]


def test_pin_reference_records_the_pin_and_rejects_what_it_cannot_pin(local_env, capsys):
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("stable_scores", partition="2026-01-05"))
    assert main([*MODULE, "pin-reference", "stable_scores", "--since", "2026-01-05"]) == 0
    assert capsys.readouterr().out.startswith("stable_scores: reference pinned since 2026-01-05 (pinned by ")
    with dg.DagsterInstance.get() as instance:
        pin = stored_pin(instance, dg.AssetKey("stable_scores"))
    assert pin.since == "2026-01-05" and pin.explicit

    assert main([*MODULE, "pin-reference", "stable_labels"]) == 2
    assert "'stable_labels' is not a monitored prediction table of this code location (monitored: " in capsys.readouterr().err
    assert main([*MODULE, "pin-reference", "feature_break_scores"]) == 2  # nothing materialized yet
    assert "has no materialized partition to pin; pass --since YYYY-MM-DD" in capsys.readouterr().err
    for bad in ("2026-13-01", "20260105"):  # not a date; a date, but not the partition key's form
        assert main([*MODULE, "pin-reference", "stable_scores", "--since", bad]) == 2
        assert f"since must be a partition key YYYY-MM-DD, got '{bad}'" in capsys.readouterr().err
    assert main([*MODULE, "pin-reference", "stable_scores", "--since", "2030-01-01"]) == 2  # a future pin would never hold
    assert "partition 2030-01-01 is not materialized; pin a partition the table has" in capsys.readouterr().err


def test_pin_reference_without_since_pins_the_newest_partition_not_the_one_written_last(local_env, capsys):
    with dg.DagsterInstance.get() as instance:
        for day in ("2026-01-05", "2026-01-07", "2026-01-06"):  # then 01-06 re-run: written last, not the newest
            instance.report_runless_asset_event(dg.AssetMaterialization("stable_scores", partition=day))
    assert main([*MODULE, "pin-reference", "stable_scores"]) == 0
    assert capsys.readouterr().out.startswith("stable_scores: reference pinned since 2026-01-07 (pinned by ")
    with dg.DagsterInstance.get() as instance:
        assert stored_pin(instance, dg.AssetKey("stable_scores")).since == "2026-01-07"


def test_a_retraining_pins_the_new_models_first_new_day_not_an_old_day_re_run_after_it(local_env):
    from ml_platform.monitoring.reference_store import model_pin

    table, model = dg.AssetKey("stable_scores"), dg.AssetKey("stable_model")
    with dg.DagsterInstance.get() as instance:
        for day in ("2026-03-09", "2026-03-10"):
            instance.report_runless_asset_event(dg.AssetMaterialization(table, partition=day))
        instance.report_runless_asset_event(dg.AssetMaterialization(model))  # retrained
        for day in ("2026-02-25", "2026-02-26", "2026-03-11"):  # a backfill of old days, then the new day
            instance.report_runless_asset_event(dg.AssetMaterialization(table, partition=day))
        pin = model_pin(instance, table, [model])
    assert pin.since == "2026-03-11" and pin.retrained
