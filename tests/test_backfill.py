"""The documented CLI backfill of a date range works on embedded defaults."""

import json

import dagster as dg
import duckdb

from ml_platform.cli import main


def test_three_day_backfill_materializes_every_partition_as_recorded_runs(local_env, capsys):
    assert main(["backfill", "--start", "2026-11-01", "--end", "2026-11-03"]) == 0
    printed = capsys.readouterr().out
    assert "article_recommendations" in printed and "2026-11-03" in printed

    with duckdb.connect(str(local_env / "warehouse.duckdb"), read_only=True) as conn:
        for table in ("related_articles", "article_recommendations", "propensity_scores"):
            days = conn.execute(f"select distinct strftime(date, '%Y-%m-%d') from ml_platform.{table} order by 1").fetchall()
            assert [d for (d,) in days] == ["2026-11-01", "2026-11-02", "2026-11-03"]

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records(dg.RunsFilter(tags={"ml_platform/backfill": "2026-11-01...2026-11-03"}))
        assert len(runs) == 3  # one run per product, over the range (every table's BackfillPolicy allows it)
        assert {(r.dagster_run.tags["dagster/asset_partition_range_start"], r.dagster_run.tags["dagster/asset_partition_range_end"])
                for r in runs} == {("2026-11-01", "2026-11-03")}
        assert {r.dagster_run.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        [backfill] = instance.get_backfills()  # one Dagster backfill (the UI's Backfills page), holding every run
        assert backfill.status.value == "COMPLETED_SUCCESS"
        assert {r.dagster_run.tags["dagster/backfill"] for r in runs} == {backfill.backfill_id}
        materialized = instance.get_materialized_partitions(dg.AssetKey("article_recommendations"))
        assert materialized == {"2026-11-01", "2026-11-02", "2026-11-03"}


def test_rightsize_command_reads_the_backfilled_step_metrics(local_env, capsys):
    assert main(["backfill", "--start", "2026-11-01", "--end", "2026-11-02", "--product", "propensity"]) == 0
    capsys.readouterr()
    assert main(["rightsize", "--json"]) == 0
    observed = {r["asset"]: r["samples"] for r in json.loads(capsys.readouterr().out)}
    assert observed["propensity_scores"] == 2 and observed["propensity_model"] == 1
    assert observed["article_recommendations"] == 0  # not backfilled


def test_backfill_rejects_a_reversed_range(local_env, capsys):
    assert main(["backfill", "--start", "2026-11-03", "--end", "2026-11-01"]) == 2
    assert "end 2026-11-01 is before start 2026-11-03" in capsys.readouterr().err


def test_a_daily_run_does_not_retrain_a_weekly_model_still_within_its_window(local_env, capsys):
    """The model runs when missing (the first day), not again the next day: it is retrained on its
    own weekly deadline, and each retraining re-pins its tables' monitoring reference."""
    assert main(["run", "--date", "2026-11-02", "--product", "propensity"]) == 0
    assert main(["run", "--date", "2026-11-03", "--product", "propensity"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("propensity_model") == 1 and printed.count("propensity_scores") == 2
    with dg.DagsterInstance.get() as instance:
        assert len(instance.fetch_materializations(dg.AssetKey("propensity_model"), limit=10).records) == 1
