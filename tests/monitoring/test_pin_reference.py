"""``ml-platform pin-reference``: a person pins a prediction table's reference from a shell."""

import dagster as dg

from ml_platform.cli import main
from ml_platform.monitoring.reference_store import stored_pin

MODULE = ["--module", "tests.monitoring.scenario_definitions"]


def test_pin_reference_records_the_pin_and_rejects_what_it_cannot_pin(local_env, capsys):
    assert main([*MODULE, "pin-reference", "stable_scores", "--since", "2026-01-05"]) == 0
    assert capsys.readouterr().out.startswith("stable_scores: reference pinned since 2026-01-05 (pinned by ")
    with dg.DagsterInstance.get() as instance:
        pin = stored_pin(instance, dg.AssetKey("stable_scores"))
    assert pin.since == "2026-01-05" and pin.explicit

    assert main([*MODULE, "pin-reference", "stable_labels"]) == 2
    assert "'stable_labels' is not a monitored prediction table of this code location (monitored: " in capsys.readouterr().err
    assert main([*MODULE, "pin-reference", "feature_break_scores"]) == 2  # nothing materialized yet
    assert "has no materialized partition to pin; pass --since YYYY-MM-DD" in capsys.readouterr().err
    assert main([*MODULE, "pin-reference", "stable_scores", "--since", "2026-13-01"]) == 2
    assert "since must be a partition key YYYY-MM-DD, got '2026-13-01'" in capsys.readouterr().err


def test_pin_reference_without_since_pins_the_newest_partition_not_the_one_written_last(local_env, capsys):
    with dg.DagsterInstance.get() as instance:
        for day in ("2026-01-05", "2026-01-07", "2026-01-06"):  # then 01-06 re-run: written last, not the newest
            instance.report_runless_asset_event(dg.AssetMaterialization("stable_scores", partition=day))
    assert main([*MODULE, "pin-reference", "stable_scores"]) == 0
    assert capsys.readouterr().out.startswith("stable_scores: reference pinned since 2026-01-07 (pinned by ")
    with dg.DagsterInstance.get() as instance:
        assert stored_pin(instance, dg.AssetKey("stable_scores")).since == "2026-01-07"
