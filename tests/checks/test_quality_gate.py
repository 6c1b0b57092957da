"""The default checks on real runs of the example products, and the gate on a shrinking table."""

import dagster as dg

from ml_platform.declaration import PredictionTable, declarations
from ml_platform.definitions import build_definitions
from tests.fixtures.product_runs import DAY, check_evaluations, inject_history, previous_days, run_products

RELATED = ("article_texts", "related_articles")
RECS = ("user_article_interactions", "article_recs_model", "article_recommendations")


def test_every_declared_prediction_table_gets_row_count_and_sanity_checks(warehouse):
    defs = build_definitions("local")
    graph = defs.resolve_asset_graph()
    checks_by_asset = {}
    for check_key in graph.asset_check_keys:
        checks_by_asset.setdefault(check_key.asset_key, set()).add(check_key.name)
    for key, declaration in declarations(graph).items():
        if isinstance(declaration, PredictionTable):
            names = checks_by_asset[key]
            assert {n for n in names if "row_count" in n} == {"row_count_change", "row_count_decline"}
            assert {"null_rate", "duplicate_keys", "score_range", "column_schema_change"} <= names


def test_real_runs_pass_every_check_and_report_the_history_used(product_defs, instance):
    for day in [*previous_days(DAY, 3), DAY]:
        result = run_products(product_defs, instance, day, *RELATED)
        assert result.success
    evaluations = check_evaluations(result)
    assert evaluations and all(e.passed for e in evaluations.values())
    change = evaluations[("related_articles", "row_count_change")]
    assert change.metadata["history_size"].value == 3
    assert change.metadata["partition"].value == DAY
    assert set(change.metadata["history"].data) == set(previous_days(DAY, 3))


def test_shrunk_upstream_table_blocks_its_consumer_and_the_run_says_why(product_defs, instance):
    inject_history(instance, "related_articles", [7000] * 7)  # today's real table has 4,000 rows: -43%
    result = run_products(product_defs, instance, DAY, *RELATED, *RECS)

    assert not result.success
    failed = check_evaluations(result)[("related_articles", "row_count_change")]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert "dropped" in failed.description and failed.metadata["median"].value == 7000
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "related_articles" in materialized and "article_recommendations" not in materialized
    step_failure = next(e for e in result.all_events if e.is_step_failure)
    assert step_failure.step_key == "related_articles_quality_checks"
    assert "row_count_change" in step_failure.event_specific_data.error.to_string()
    why = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.step_key == "article_recommendations"]
    assert any("failed: ['related_articles_quality_checks']. Not executing." in m for m in why)


def test_warn_drop_lets_the_consumer_run(product_defs, instance):
    inject_history(instance, "related_articles", [4700] * 7)  # 4,000 rows: -15%, a WARN
    result = run_products(product_defs, instance, DAY, *RELATED, *RECS)

    assert result.success
    warned = check_evaluations(result)[("related_articles", "row_count_change")]
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "article_recommendations" in materialized


def test_load_asset_value_reads_a_checked_partition_even_one_that_failed_its_checks(product_defs, instance):
    """A read outside any run (a notebook) is not gated: it is how one inspects a refused partition."""
    inject_history(instance, "related_articles", [7000] * 7)  # today's 4,000 rows fail with ERROR
    assert not run_products(product_defs, instance, DAY, *RELATED).success
    table = product_defs.load_asset_value("related_articles", partition_key=DAY, instance=instance)
    assert len(table) == 4000 and set(table["date"].dt.strftime("%Y-%m-%d")) == {DAY}
