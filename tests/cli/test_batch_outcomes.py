"""``ml-platform run`` and ``backfill`` print what Dagster recorded, per table partition: a crashed
check or step is FAILED with its error's first line, retries show as they happen, a run over a
range of days is reported day by day, and each backfill is a Dagster backfill."""

import dagster as dg

from ml_platform.cli import main
from ml_platform.compute.profiles import PROFILES
from ml_platform.compute.run_limits import MAX_RUNTIME_TAG
from tests.cli.cli_output import summary_rows
from tests.fixtures.cli_catalog import BAD_DAY, RANGED_BAD_DAY, TRANSIENT

CATALOG = "tests.fixtures.cli_catalog"


def test_crashed_checks_failed_days_and_retries_come_from_dagsters_records(local_env, capsys):
    argv = ["--module", CATALOG, "backfill", "--start", "2026-11-01", "--end", BAD_DAY, "--product", "shaky", "--product", "reader"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1
    rows = summary_rows(out)
    assert rows[("shaky_features", "2026-11-01")] == "FAILED: check step crashed: KeyError: 'segment' (2 attempts)"
    assert rows[("shaky_scores", "2026-11-01")] == "ok (after deadline)"
    assert rows[("shaky_scores", BAD_DAY)] == f"FAILED: ValueError: no labels for {BAD_DAY}"
    assert rows[("shaky_report", BAD_DAY)] == "skipped: upstream shaky_scores failed"  # in the same run
    assert rows[("reader_scores", "2026-11-01")] == "ok (after deadline)"
    # The other product's day whose input failed earlier in the batch is not started (no retry loop).
    assert rows[("reader_scores", BAD_DAY)] == f"skipped: shaky_scores (shaky) not materialized for {BAD_DAY}"
    assert "3 of 8 assets materialized and passed their checks" in out
    retry = f"shaky 2026-11-01: shaky_features: attempt failed (RuntimeError: {TRANSIENT}); retrying"
    assert retry in err and err.index(retry) < err.index("shaky 2026-11-01: run ")  # before the run ended

    with dg.DagsterInstance.get() as instance:
        [backfill] = instance.get_backfills()
        assert backfill.status.value == "COMPLETED_FAILED"
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        started = sorted((r.tags["ml_platform/product"], r.tags["dagster/partition"], r.status.value) for r in runs)
        assert started == [("reader", "2026-11-01", "SUCCESS"), ("shaky", "2026-11-01", "FAILURE"), ("shaky", BAD_DAY, "FAILURE")]


def test_a_backfill_policy_range_runs_once_and_is_reported_day_by_day(local_env, capsys):
    assert main(["--module", CATALOG, "backfill", "--start", "2026-11-01", "--end", "2026-11-03", "--product", "ranged"]) == 0
    rows = summary_rows(capsys.readouterr().out)
    assert rows == {("ranged_events", f"2026-11-0{d}"): "ok (after deadline)" for d in (1, 2, 3)}
    with dg.DagsterInstance.get() as instance:
        [backfill] = instance.get_backfills()
        [run] = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == ("2026-11-01", "2026-11-03")
        # Its step computes three days: three times one day's budget (light, 30 min; retries=0).
        assert run.tags[MAX_RUNTIME_TAG] == str(3 * int(PROFILES["light"].max_runtime.total_seconds()))
        assert backfill.status.value == "COMPLETED_SUCCESS"
        assert len(list(backfill.asset_backfill_data.materialized_subset.iterate_asset_partitions())) == 3


def test_a_failed_range_names_its_failure_on_the_day_it_concerns_and_why_the_others_are_missing(local_env, capsys):
    assert main(["--module", CATALOG, "backfill", "--start", "2026-11-11", "--end", "2026-11-13", "--product", "ranged"]) == 1
    rows = summary_rows(capsys.readouterr().out)
    because = f"FAILED: the step over 2026-11-11...2026-11-13 failed on {RANGED_BAD_DAY}, so this day was not written either"
    assert rows == {
        ("ranged_events", "2026-11-11"): because,
        ("ranged_events", RANGED_BAD_DAY): f"FAILED: ValueError: no events for {RANGED_BAD_DAY}",
        ("ranged_events", "2026-11-13"): because,
    }


def test_days_a_failed_range_wrote_hold_their_consumers_until_their_checks_ran(local_env, capsys):
    """A ranged run writes its good days, then fails on the bad one: Dagster skips the checks. Those
    days are held, not read unchecked, until their checks run."""
    from ml_platform.cli.code_location import load_code_location

    assert main(["--module", CATALOG, "backfill", "--start", "2026-11-21", "--end", "2026-11-23", "--product", "gated"]) == 1
    rows = summary_rows(capsys.readouterr().out)
    assert rows[("gated_events", "2026-11-21")].startswith("checks not run: ")
    assert rows[("gated_events", "2026-11-22")] == "FAILED: ValueError: no events for 2026-11-22"  # that day's own reason
    reader = ["--module", CATALOG, "run", "--date", "2026-11-21", "--product", "gated_reader"]
    assert main(reader) == 1
    row = summary_rows(capsys.readouterr().out)[("gated_counts", "2026-11-21")]
    assert "upstream table 'gated_events' partition 2026-11-21 was written but never checked: run its checks (UI: the table's Checks tab, Execute)" in row, row
    defs = load_code_location(CATALOG)
    checks = set(defs.resolve_asset_graph().get(dg.AssetKey("gated_events")).check_keys)
    only_checks = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(), asset_check_selection=checks)
    with dg.DagsterInstance.get() as instance:  # the UI's "Execute" on the table's checks
        assert only_checks.execute_in_process(instance=instance, partition_key="2026-11-21").success
    assert main(reader) == 0


def test_the_readme_backfill_of_one_product_names_its_missing_input_before_any_run(local_env, capsys):
    readme = ["backfill", "--start", "2026-11-01", "--end", "2026-11-03", "--product", "article_recs"]
    assert main(readme) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "ml-platform: related_articles (related_content) not materialized for 2026-11-01 to 2026-11-03: "
        "backfill it, or pass --with-upstream\n"
    )
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_records() == [] and instance.get_backfills() == []


def test_with_upstream_materializes_the_other_products_inputs_first(local_env, capsys):
    assert main(["run", "--date", "2026-11-01", "--product", "article_recs", "--with-upstream"]) == 0
    rows = summary_rows(capsys.readouterr().out)
    assert list(rows)[:2] == [("article_texts", "2026-11-01"), ("related_articles", "2026-11-01")]  # first
    assert {asset for asset, _ in rows} == {
        "article_texts", "related_articles", "user_article_interactions", "article_recs_model", "article_recommendations"
    }  # and nothing of the products it does not read (propensity)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert sorted(r.tags["ml_platform/product"] for r in runs) == ["article_recs", "related_content"]
        assert {r.job_name for r in runs} == {"__ASSET_JOB"}  # the job the UI's Materialize launches
        assert {r.remote_job_origin.location_name for r in runs} == {"ml_platform.definitions"}  # as `dagster dev -m` names it
