"""All three products materialize one partition into a private warehouse; tables read back right."""

from datetime import date

import dagster as dg
import duckdb
import pytest

from ml_platform.batch import run_days
from ml_platform.definitions import product_assets
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.warehouse import warehouse_resources
from tests.fixtures.product_runs import inject_history

DAY = date(2026, 11, 20)


@pytest.fixture
def tables(defs, instance, local_env):
    outcomes = run_days(defs, instance, [DAY])
    assert all(o.status.startswith("ok") for o in outcomes), outcomes
    with duckdb.connect(str(local_env / "warehouse.duckdb"), read_only=True) as conn:
        yield lambda name: conn.execute(f"select * from ml_platform.{name}").fetchdf()


def test_article_recommendations_are_top_k_per_active_user(tables):
    recs = tables("article_recommendations")
    interactions = tables("user_article_interactions")
    assert set(recs["date"].dt.date) == {DAY}
    assert set(recs["user_id"]) == set(interactions["user_id"])
    per_user = recs.groupby("user_id").size()
    assert (per_user == 10).all()
    assert not recs.duplicated(["user_id", "article_id"]).any()
    assert recs["score"].between(0, 1).all()
    ranks = recs.sort_values(["user_id", "rank"])
    assert (ranks.groupby("user_id")["score"].diff().dropna() <= 1e-12).all(), "rank 1 has the best score"
    read_today = set(map(tuple, interactions[["user_id", "article_id"]].to_numpy()))
    assert not read_today & set(map(tuple, recs[["user_id", "article_id"]].to_numpy())), "never recommends what was read"


def test_related_articles_are_k_similar_articles_per_article_excluding_itself(tables):
    related = tables("related_articles")
    n_articles = SyntheticData().n_articles
    assert related["article_id"].nunique() == n_articles
    assert (related.groupby("article_id").size() == 10).all()
    assert (related["article_id"] != related["related_article_id"]).all()
    assert related["score"].between(0, 1).all()
    texts = tables("article_texts").set_index("article_id")["topic"]
    same_topic = (texts.loc[related["article_id"]].to_numpy() == texts.loc[related["related_article_id"]].to_numpy()).mean()
    assert same_topic > 0.9, "TF-IDF finds articles of the same topic"


def test_propensity_scores_are_probabilities_for_every_user(tables):
    scores = tables("propensity_scores")
    assert len(scores) == SyntheticData().n_users
    assert scores["user_id"].is_unique
    assert scores["score"].between(0, 1).all()
    assert scores["score"].std() > 0.05, "the model separates users"


def test_a_failed_check_blocks_the_consumer_in_another_products_later_run(defs, instance):
    inject_history(instance, "related_articles", [7000] * 7, before=DAY.isoformat())  # today: 4,000 rows
    outcomes = {o.asset: o.status for o in run_days(defs, instance, [DAY], products=["related_content", "article_recs"])}
    assert outcomes["article_texts"].startswith("ok")
    assert outcomes["related_articles"] == "checks: ERROR row_count_change"
    # article_recs is a separate run; its summary row gives the gate's reason
    assert outcomes["article_recommendations"].startswith("FAILED: Failure: upstream table 'related_articles' partition 2026-11-20")
    [run] = instance.get_run_records(dg.RunsFilter(tags={"ml_platform/product": "article_recs"}))
    failures = [e for e in instance.all_logs(run.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
    assert "upstream table 'related_articles' partition 2026-11-20 failed its check(s) row_count_change with ERROR" in str(
        failures[0].dagster_event.event_specific_data.error
    )


def trained_on_a_window(defs, instance, features: str, model: str) -> dict:
    """Features for a day outside the 28-day window and two inside it, then the model: its metadata."""
    job = defs.get_implicit_global_asset_job_def()
    for day in ("2026-09-01", "2026-11-19", "2026-11-20"):  # the first is outside the 28-day window
        assert job.execute_in_process(instance=instance, partition_key=day, asset_selection=[dg.AssetKey(features)]).success
    assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(model)]).success
    return instance.get_latest_materialization_event(dg.AssetKey(model)).asset_materialization.metadata


def test_propensity_model_trains_on_its_declared_window_not_the_whole_history(defs, instance):
    from ml_platform.defs.propensity import TRAINING_WINDOW

    metadata = trained_on_a_window(defs, instance, "user_features", "propensity_model")
    assert TRAINING_WINDOW.days == 28 and metadata["training_window"].value == "2026-10-24..2026-11-20"
    per_day = len(SyntheticData().user_features(DAY))
    assert metadata["training_rows"].value == 2 * per_day


def test_article_recs_model_trains_on_its_declared_window_not_the_whole_history(defs, instance):
    from ml_platform.defs.article_recs import TRAINING_WINDOW

    metadata = trained_on_a_window(defs, instance, "user_article_interactions", "article_recs_model")
    assert TRAINING_WINDOW.days == 28 and metadata["training_window"].value == "2026-10-24..2026-11-20"
    synthetic = SyntheticData()
    assert metadata["training_rows"].value == len(synthetic.interactions(date(2026, 11, 19))) + len(synthetic.interactions(DAY))


def test_recommendations_skip_articles_read_today_that_the_weekly_model_has_not_seen(local_env, instance):
    """Few users: the model, trained on the first day, has seen about 200 of the 400 articles, and
    the next day's reads include article ids above its last one (the crash: index 400 out of range)."""
    resources = {**warehouse_resources("local"), "synthetic": SyntheticData(n_users=40)}
    assets, next_day = product_assets(), DAY.replace(day=DAY.day + 1).isoformat()

    def materialize(names, partition):
        selection = [dg.AssetKey(name) for name in names]
        return dg.materialize(assets, selection=selection, partition_key=partition, resources=resources, instance=instance)

    materialize(["user_article_interactions"], DAY.isoformat())
    model = materialize(["article_recs_model"], None).output_for_node("article_recs_model")
    interactions = materialize(["user_article_interactions", "article_texts", "related_articles"], next_day)
    read = interactions.output_for_node("user_article_interactions")
    unseen = set(read["article_id"]) - set(model.article_ids)
    assert unseen and max(unseen) > model.article_ids.max(), "today reads articles past the model's last one"
    recs = materialize(["article_recommendations"], next_day).output_for_node("article_recommendations")
    assert set(recs["article_id"]) <= set(model.article_ids)
    assert (recs.groupby("user_id").size() == 10).all()
    read_pairs = set(map(tuple, read[["user_id", "article_id"]].to_numpy()))
    assert not read_pairs & set(map(tuple, recs[["user_id", "article_id"]].to_numpy())), "never recommends what was read"
