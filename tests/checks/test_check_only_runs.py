"""A table's checks re-run alone, on one partition, without materializing the table: each check
op is subsettable, and the re-run reads the same history, so it gives the same verdicts."""

import dagster as dg

from tests.fixtures.product_runs import DAY, check_evaluations, inject_history, run_products

RELATED = ("article_texts", "related_articles")
TABLE = dg.AssetKey("related_articles")
# One check of each concern: history (row-count metadata) and content (the partition read back).
SELECTED = {dg.AssetCheckKey(TABLE, "row_count_change"), dg.AssetCheckKey(TABLE, "duplicate_keys")}


def check_only_run(defs: dg.Definitions, instance, checks: set[dg.AssetCheckKey], partition: str) -> dg.ExecuteInProcessResult:
    """What the UI launches for checks: an asset-check selection and the partition as a run tag."""
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(), asset_check_selection=checks)
    return job.execute_in_process(instance=instance, tags={"dagster/partition": partition}, raise_on_error=False)


def test_every_check_is_its_own_execution_set(defs):
    """What the UI's ``canExecuteIndividually`` reads (tests/production: through the webserver)."""
    graph = defs.resolve_asset_graph()
    assert graph.asset_check_keys
    for check_key in graph.asset_check_keys:
        assert graph.get_execution_set_asset_and_check_keys(check_key) == {check_key}


def test_check_only_run_on_a_partition_repeats_the_verdicts_of_the_materializing_run(product_defs, instance):
    inject_history(instance, "related_articles", [4700] * 7)  # today's 4,000 rows: -15%, a WARN
    materialized = check_evaluations(run_products(product_defs, instance, DAY, *RELATED))

    result = check_only_run(product_defs, instance, SELECTED, DAY)

    assert result.success
    assert result.get_asset_materialization_events() == []
    rerun = check_evaluations(result)
    assert set(rerun) == {(k.asset_key.to_user_string(), k.name) for k in SELECTED}
    for key, evaluation in rerun.items():
        before = materialized[key]
        assert (evaluation.passed, evaluation.severity, evaluation.description) == (before.passed, before.severity, before.description)
        assert evaluation.partition == DAY
        assert evaluation.metadata == before.metadata
    assert rerun[("related_articles", "row_count_change")].severity == dg.AssetCheckSeverity.WARN
    assert not rerun[("related_articles", "row_count_change")].passed
