"""The launch on data of article_recommendations (it reads related_content's related_articles),
evaluated tick by tick with Dagster's own evaluator over the real example definitions.

Upstream states are written into the instance as a run writes them: materializations, and check
evaluations (planned, then passed or failed) inside a run of their own.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # test-only: what a check run writes
    AssetCheckEvaluationPlanned,
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEvent, DagsterEventType  # test-only: a run's check events
from dagster._core.storage.dagster_run import make_new_run_id

from ml_platform.assets.article_recs import article_recommendations, user_article_interactions
from ml_platform.assets.related_content import related_articles
from ml_platform.checks.quality_checks import check_names
from ml_platform.declaration import SLO, Expectations, Model, PredictionTable, declaration_of
from ml_platform.schedules.cross_product_launch import SENSOR_NAME, data_launched, with_launch_conditions
from ml_platform.schedules.product_schedules import build_product_schedules

INTERACTIONS_DECLARATION = declaration_of(user_article_interactions)
RECOMMENDATIONS = declaration_of(article_recommendations)
RELATED_ARTICLES = declaration_of(related_articles)
TOKYO = ZoneInfo("Asia/Tokyo")
TODAY = "2026-03-10"
CONSUMER = dg.AssetKey(RECOMMENDATIONS.name)
RELATED = dg.AssetKey(RELATED_ARTICLES.name)
INTERACTIONS = dg.AssetKey("user_article_interactions")
MODEL = dg.AssetKey("article_recs_model")


def at(hhmm: str, day: str = TODAY) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=TOKYO)


class Ticks:
    """The automation-condition sensor's evaluations, one per ``tick``, carrying the cursor."""

    def __init__(self, defs, instance):
        self.defs, self.instance, self.cursor = defs, instance, None

    def tick(self, when: datetime) -> dict[str, set[str]]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, evaluation_time=when, cursor=self.cursor)
        self.cursor = result.cursor
        return {
            r.key.to_user_string(): set(r.true_subset.expensively_compute_partition_keys())
            for r in result.results
            if r.true_subset.size
        }


class Upstream:
    """Writes what a run of a table and its checks leaves in the instance."""

    def __init__(self, instance):
        self.instance = instance

    def run(self, status=dg.DagsterRunStatus.SUCCESS, partition: str | None = None) -> dg.DagsterRun:
        tags = {"dagster/partition": partition} if partition else {}
        return self.instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=make_new_run_id(), status=status, tags=tags))

    def materialize(self, key: dg.AssetKey, partition: str | None) -> None:
        self.instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

    def checks(self, key, declaration, partition, failed=(), severity=dg.AssetCheckSeverity.ERROR, run_id=None) -> None:
        run_id = run_id or self.run().run_id
        [checked] = self.instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=[partition]), limit=1).records
        target = AssetCheckEvaluationTargetMaterializationData(
            storage_id=checked.storage_id, run_id=checked.run_id, timestamp=checked.timestamp
        )
        for name in check_names(declaration.expectations):
            evaluation = dg.AssetCheckEvaluation(
                asset_key=key, check_name=name, passed=name not in failed, severity=severity, partition=partition,
                target_materialization_data=target,
            )
            self._event(run_id, DagsterEventType.ASSET_CHECK_EVALUATION, evaluation)

    def checks_running(self, key, declaration, partition) -> str:
        """A check-only run that has started and planned the table's checks for ``partition``."""
        run = self.run(status=dg.DagsterRunStatus.STARTED, partition=partition)
        subset = run.get_resolved_partitions_subset_for_events(declaration.partitions_def)
        for name in check_names(declaration.expectations):
            planned = AssetCheckEvaluationPlanned(asset_key=key, check_name=name, partitions_subset=subset)
            self._event(run.run_id, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, planned)
        return run.run_id

    def _event(self, run_id, event_type, data) -> None:
        self.instance.report_dagster_event(
            DagsterEvent(event_type_value=event_type.value, job_name="__ASSET_JOB", event_specific_data=data), run_id=run_id
        )

    def history(self, days: list[str], consumer: bool) -> None:
        """Past days on which every input landed and passed its checks (and maybe the consumer ran)."""
        self.materialize(MODEL, None)
        for day in days:
            self.own_product_ready(day)
            self.materialize(RELATED, day)
            self.checks(RELATED, RELATED_ARTICLES, day)
            if consumer:
                self.materialize(CONSUMER, day)

    def own_product_ready(self, day: str = TODAY) -> None:
        self.materialize(INTERACTIONS, day)
        self.checks(INTERACTIONS, INTERACTIONS_DECLARATION, day)


def past(days: int, before: str = TODAY) -> list[str]:
    end = date.fromisoformat(before)
    return [(end - timedelta(days=i)).isoformat() for i in range(days, 0, -1)]


@pytest.fixture
def ticks(defs, instance):
    return Ticks(defs, instance)


@pytest.fixture
def upstream(instance):
    return Upstream(instance)


def test_only_the_cross_product_consumer_is_launched_on_data_and_its_schedule_leaves_it_out(defs):
    graph = defs.resolve_asset_graph()
    assert {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition is not None} == {CONSUMER}
    assert data_launched([graph.get(k).assets_def for k in graph.get_all_asset_keys()]) == {CONSUMER}
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    context = dg.build_schedule_context(scheduled_execution_time=at("04:00"), repository_def=defs.get_repository_def())
    [request] = defs.resolve_schedule_def("article_recs_schedule").evaluate_tick(context).run_requests
    assert set(request.asset_selection) == {INTERACTIONS}  # the model only on Mondays; TODAY is a Tuesday


def test_first_evaluation_launches_no_old_partition(ticks, upstream):
    upstream.history(past(9), consumer=False)  # nine past days whose consumer partition is missing
    assert ticks.tick(at("01:00")) == {}
    assert ticks.tick(at("01:01")) == {}


def test_today_is_launched_once_when_every_input_landed_and_its_checks_passed(ticks, upstream, instance):
    upstream.history(past(3), consumer=True)
    assert ticks.tick(at("03:00")) == {}
    upstream.own_product_ready()
    assert ticks.tick(at("04:10")) == {}  # related_articles for today is not there yet
    upstream.materialize(RELATED, TODAY)
    running = upstream.checks_running(RELATED, RELATED_ARTICLES, TODAY)
    assert ticks.tick(at("04:30")) == {}  # its blocking checks are still running
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY, run_id=running)
    instance.handle_run_event(running, DagsterEvent(DagsterEventType.RUN_SUCCESS.value, "__ASSET_JOB"))
    assert ticks.tick(at("04:31")) == {RECOMMENDATIONS.name: {TODAY}}
    assert ticks.tick(at("04:32")) == {}  # requested once: not again while nothing changes


def test_failed_blocking_check_holds_the_consumer_until_a_rerun_passes(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.materialize(RELATED, TODAY)
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY, failed={"duplicate_keys"})
    assert ticks.tick(at("04:30")) == {}
    assert ticks.tick(at("05:00")) == {}
    upstream.materialize(RELATED, TODAY)  # the owner re-runs the partition; its checks pass
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY)
    assert ticks.tick(at("05:30")) == {RECOMMENDATIONS.name: {TODAY}}


def test_a_warn_result_holds_it_too_as_dagsters_condition_ignores_severity(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.materialize(RELATED, TODAY)
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY, failed={"row_count_change"}, severity=dg.AssetCheckSeverity.WARN)
    assert ticks.tick(at("04:30")) == {}  # docs/slo.md: re-run the check (or the table) to release it


def test_first_evaluation_launches_today_when_its_inputs_are_already_ready(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.materialize(RELATED, TODAY)
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY)
    assert ticks.tick(at("09:00")) == {RECOMMENDATIONS.name: {TODAY}}  # e.g. the sensor was just switched on


def test_an_input_landing_after_midnight_still_launches_its_date_but_never_an_older_one(ticks, upstream):
    three_days_ago, two_days_ago, yesterday = past(3)
    upstream.history([three_days_ago], consumer=True)
    upstream.history([two_days_ago], consumer=False)  # its inputs landed, its consumer never ran
    upstream.own_product_ready(yesterday)
    assert ticks.tick(at("23:00", yesterday)) == {}  # yesterday's related_articles is late; two days ago is history
    upstream.materialize(RELATED, two_days_ago)  # a re-run of an older date: not launched again
    upstream.checks(RELATED, RELATED_ARTICLES, two_days_ago)
    upstream.materialize(RELATED, yesterday)  # lands after midnight
    upstream.checks(RELATED, RELATED_ARTICLES, yesterday)
    assert ticks.tick(at("00:30")) == {RECOMMENDATIONS.name: {yesterday}}


def test_a_retrained_model_relaunches_today_only(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.materialize(RELATED, TODAY)
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY)
    upstream.materialize(CONSUMER, TODAY)
    assert ticks.tick(at("05:00")) == {}
    upstream.materialize(MODEL, None)
    assert ticks.tick(at("05:30")) == {RECOMMENDATIONS.name: {TODAY}}  # not yesterday's, read by nobody now


def test_waits_for_an_input_of_its_own_product_too(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.materialize(RELATED, TODAY)
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY)
    assert ticks.tick(at("04:30")) == {}  # today's interactions are missing
    upstream.own_product_ready()
    assert ticks.tick(at("04:40")) == {RECOMMENDATIONS.name: {TODAY}}


def test_a_new_day_launches_only_the_new_date(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.materialize(RELATED, TODAY)
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY)
    assert ticks.tick(at("04:30")) == {RECOMMENDATIONS.name: {TODAY}}
    upstream.materialize(CONSUMER, TODAY)
    tomorrow = (date.fromisoformat(TODAY) + timedelta(days=1)).isoformat()
    assert ticks.tick(at("00:05", tomorrow)) == {}  # a new partition, its inputs not there yet
    upstream.own_product_ready(tomorrow)
    upstream.materialize(RELATED, tomorrow)
    upstream.checks(RELATED, RELATED_ARTICLES, tomorrow)
    assert ticks.tick(at("04:30", tomorrow)) == {RECOMMENDATIONS.name: {tomorrow}}


def test_a_chain_behind_a_cross_product_read_is_launched_on_data_but_a_model_keeps_its_schedule():
    def declared(name, product, kind=PredictionTable, deps=()):
        extra = {"expectations": Expectations(key_columns=("id",))} if kind is PredictionTable else {}
        spec = kind(name=name, product=product, owner="team:t", slo=SLO("0 8 * * 1" if kind is Model else "0 8 * * *"), compute="small", **extra)

        @dg.asset(**spec.asset_kwargs(), deps=list(deps))
        def _asset():
            return None

        return _asset

    assets = [
        declared("source", "a"),
        declared("reads_source", "b", deps=["source"]),
        declared("reads_reader", "b", deps=["reads_source"]),  # same product, behind a cross-product read
        declared("own_only", "b"),
        declared("model_on_source", "b", kind=Model, deps=["source"]),  # reads history: stays on the clock
    ]
    assert data_launched(assets) == {dg.AssetKey("reads_source"), dg.AssetKey("reads_reader")}
    launched = with_launch_conditions(assets)
    defs = dg.Definitions(
        assets=launched, schedules=build_product_schedules(launched), resources={"model_io_manager": dg.FilesystemIOManager()}
    )
    assert {s.name for s in defs.schedules} == {"a_schedule", "b_schedule"}
    monday = datetime(2026, 3, 9, 6, tzinfo=ZoneInfo("UTC"))  # the model is due
    context = dg.build_schedule_context(scheduled_execution_time=monday, repository_def=defs.get_repository_def())
    [request] = defs.resolve_schedule_def("b_schedule").evaluate_tick(context).run_requests
    assert set(request.asset_selection) == {dg.AssetKey("own_only"), dg.AssetKey("model_on_source")}
