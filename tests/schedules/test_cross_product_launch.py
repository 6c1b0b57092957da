"""The launch on data of article_recommendations (it reads related_content's related_articles),
evaluated tick by tick with Dagster's own evaluator over the real example definitions; and the
launch rules on small catalogs (weekly deadlines, reads across time zones, one sensor per product).

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
from dagster._core.events import (  # test-only: what a run writes
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.storage.dagster_run import make_new_run_id
from freezegun import freeze_time

from ml_platform.checks.quality_checks import check_names
from ml_platform.compute.profiles import PROFILES
from ml_platform.compute.run_limits import MAX_RUNTIME_TAG, step_budget_seconds
from ml_platform.declaration import (
    PRODUCT_TAG,
    SLO,
    DeclarationError,
    Expectations,
    Model,
    PredictionTable,
    declaration_of,
    declared_specs,
)
from ml_platform.defs.article_recs import article_recommendations, user_article_interactions
from ml_platform.defs.related_content import related_articles
from ml_platform.schedules.cross_product_launch import (
    cross_product_launch_sensor,
    data_launched,
    launch_sensor_name,
    with_launch_conditions,
)
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

    def consumer_run(self, partition: str) -> str:
        """The consumer's run for ``partition`` has started (it planned its materialization)."""
        run = self.instance.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB", run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED,
                tags={"dagster/partition": partition}, asset_selection=frozenset({CONSUMER}),
            )
        )
        self._event(run.run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED, AssetMaterializationPlannedData(CONSUMER, partition=partition))
        return run.run_id

    def consumer_landed(self, run_id: str, partition: str) -> None:
        self._event(run_id, DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(dg.AssetMaterialization(CONSUMER, partition=partition)))
        self.instance.handle_run_event(run_id, DagsterEvent(DagsterEventType.RUN_SUCCESS.value, "__ASSET_JOB"))

    def related_ready(self, day: str = TODAY, failed=(), severity=dg.AssetCheckSeverity.ERROR) -> None:
        self.materialize(RELATED, day)
        self.checks(RELATED, RELATED_ARTICLES, day, failed=failed, severity=severity)

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
    assets = [graph.get(k).assets_def for k in graph.get_all_asset_keys()]
    assert data_launched(assets, declared_specs(assets)) == {CONSUMER}
    sensor = defs.resolve_sensor_def(launch_sensor_name(RECOMMENDATIONS.product))
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert [s.name for s in defs.sensors if isinstance(s, dg.AutomationConditionSensorDefinition)] == [sensor.name]
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


def test_a_warn_result_on_an_input_does_not_hold_it_an_error_does(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.related_ready(failed={"row_count_change"}, severity=dg.AssetCheckSeverity.WARN)  # the catalog grew for good
    assert ticks.tick(at("04:30")) == {RECOMMENDATIONS.name: {TODAY}}  # as inside one run: a WARN lets it through
    tomorrow = (date.fromisoformat(TODAY) + timedelta(days=1)).isoformat()
    upstream.own_product_ready(tomorrow)
    upstream.related_ready(tomorrow, failed={"row_count_change"})  # the same check, now with ERROR
    assert ticks.tick(at("04:30", tomorrow)) == {}


def test_the_launch_runs_carry_the_product_tag_and_its_run_time_limit(defs, instance, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.related_ready()
    sensor = defs.resolve_sensor_def(launch_sensor_name(RECOMMENDATIONS.product))
    with freeze_time(at("04:30")):  # the sensor as the daemon evaluates it in the code server
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    [request] = result.run_requests
    assert request.partition_key == TODAY and set(request.asset_selection) == {CONSUMER}
    # Every attempt its declared retries allow, at its profile's limit, plus the delays between them.
    limit = int(step_budget_seconds(RECOMMENDATIONS.compute, RECOMMENDATIONS.retry_policy()))
    assert limit > PROFILES[RECOMMENDATIONS.compute].max_runtime.total_seconds() * (1 + RECOMMENDATIONS.retries)
    assert request.tags[PRODUCT_TAG] == RECOMMENDATIONS.product and request.tags[MAX_RUNTIME_TAG] == str(limit)


def test_an_input_fixed_while_the_consumer_runs_relaunches_it_once_it_finished(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.related_ready()
    assert ticks.tick(at("04:30")) == {RECOMMENDATIONS.name: {TODAY}}
    run_id = upstream.consumer_run(TODAY)
    upstream.related_ready()  # the producer re-runs today's partition while the consumer reads the old one
    assert ticks.tick(at("04:31")) == {}  # the consumer is still running
    upstream.consumer_landed(run_id, TODAY)
    assert ticks.tick(at("04:40")) == {RECOMMENDATIONS.name: {TODAY}}  # it read the old input: once more
    assert ticks.tick(at("04:41")) == {}


def test_a_fix_after_the_consumer_ran_and_a_backfill_of_past_dates_relaunch_exactly_those_dates(ticks, upstream):
    days = past(5)
    upstream.history(days, consumer=True)
    upstream.own_product_ready()
    upstream.related_ready()
    upstream.materialize(CONSUMER, TODAY)
    assert ticks.tick(at("05:00")) == {}
    upstream.related_ready()  # a fix after the consumer ran
    for day in days[1:4]:  # and the producer's backfill of three past dates
        upstream.related_ready(day)
    assert ticks.tick(at("10:01")) == {RECOMMENDATIONS.name: {TODAY, *days[1:4]}}
    assert ticks.tick(at("10:02")) == {}


def test_an_input_landing_days_late_still_launches_its_date(ticks, upstream):
    three_days_ago, two_days_ago, yesterday = past(3)
    upstream.history([three_days_ago, yesterday], consumer=True)
    upstream.own_product_ready(two_days_ago)  # related_articles of two days ago never landed
    upstream.own_product_ready()
    upstream.related_ready()
    assert ticks.tick(at("04:30")) == {RECOMMENDATIONS.name: {TODAY}}
    upstream.related_ready(two_days_ago)
    assert ticks.tick(at("06:00")) == {RECOMMENDATIONS.name: {two_days_ago}}


def test_first_evaluation_launches_today_when_its_inputs_are_already_ready(ticks, upstream):
    upstream.history(past(3), consumer=True)
    upstream.own_product_ready()
    upstream.materialize(RELATED, TODAY)
    upstream.checks(RELATED, RELATED_ARTICLES, TODAY)
    assert ticks.tick(at("09:00")) == {RECOMMENDATIONS.name: {TODAY}}  # e.g. the sensor was just switched on


def test_an_input_landing_after_midnight_still_launches_its_date_but_no_older_missing_one(ticks, upstream):
    three_days_ago, two_days_ago, yesterday = past(3)
    upstream.history([three_days_ago], consumer=True)
    upstream.history([two_days_ago], consumer=False)  # its inputs landed, its consumer never ran
    upstream.own_product_ready(yesterday)
    assert ticks.tick(at("23:00", yesterday)) == {}  # yesterday's related_articles is late; two days ago is history
    upstream.materialize(RELATED, yesterday)  # lands after midnight
    upstream.checks(RELATED, RELATED_ARTICLES, yesterday)
    assert ticks.tick(at("00:30")) == {RECOMMENDATIONS.name: {yesterday}}  # never the older missing date


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


def declared(name, product, kind=PredictionTable, deps=(), slo=None, **asset_args):
    """A declared asset of a small catalog; ``deps``: names or ``dg.AssetDep``s."""
    extra = {"expectations": Expectations(key_columns=("id",))} if kind is PredictionTable else {}
    slo = slo or SLO("0 8 * * 1" if kind is Model else "0 8 * * *")
    spec = kind(name=name, product=product, owner="team:t", slo=slo, compute="small", **extra)

    @dg.asset(**spec.asset_kwargs(**asset_args), deps=list(deps))
    def _asset():
        return None

    return _asset


def small_defs(assets) -> dg.Definitions:
    catalog = declared_specs(assets)
    launched = with_launch_conditions(assets, catalog)
    return dg.Definitions(
        assets=launched, schedules=build_product_schedules(launched, catalog), sensors=cross_product_launch_sensor(launched, catalog),
        resources={"model_io_manager": dg.FilesystemIOManager()},
    )


def requested(defs, instance, when: datetime, cursor=None):
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when, cursor=cursor)
    found = {r.key.to_user_string(): set(r.true_subset.expensively_compute_partition_keys()) for r in result.results if r.true_subset.size}
    return found, result.cursor


def test_a_chain_behind_a_cross_product_read_is_launched_on_data_but_a_model_keeps_its_schedule():
    assets = [
        declared("source", "a"),
        declared("reads_source", "b", deps=["source"]),
        declared("reads_reader", "b", deps=["reads_source"]),  # same product, behind a cross-product read
        declared("own_only", "b"),
        declared("model_on_source", "b", kind=Model, deps=["source"]),  # reads history: stays on the clock
    ]
    assert data_launched(assets, declared_specs(assets)) == {dg.AssetKey("reads_source"), dg.AssetKey("reads_reader")}
    defs = small_defs(assets)
    assert {s.name for s in defs.schedules} == {"a_schedule", "b_schedule"}
    monday = datetime(2026, 3, 9, 6, tzinfo=ZoneInfo("UTC"))  # the model is due
    context = dg.build_schedule_context(scheduled_execution_time=monday, repository_def=defs.get_repository_def())
    [request] = defs.resolve_schedule_def("b_schedule").evaluate_tick(context).run_requests
    assert set(request.asset_selection) == {dg.AssetKey("own_only"), dg.AssetKey("model_on_source")}


def test_a_table_with_a_monday_deadline_is_launched_for_mondays_only(instance):
    defs = small_defs([declared("source", "a"), declared("weekly_digest", "b", deps=["source"], slo=SLO("0 8 * * 1"))])
    writes = Upstream(instance)
    days = ["2026-03-08", "2026-03-09", "2026-03-10"]  # Sunday, Monday, Tuesday
    cursor = None
    for day in days:
        writes.materialize(dg.AssetKey("source"), day)
        found, cursor = requested(defs, instance, datetime.fromisoformat(f"{day}T06:00+00:00"), cursor)
        assert found == ({"weekly_digest": {day}} if day == "2026-03-09" else {}), day


def test_a_read_across_time_zones_needs_a_declared_mapping_and_then_reads_the_same_date(instance):
    tokyo_source = declared("source", "a", slo=SLO("0 6 * * *", timezone="Asia/Tokyo"))
    with pytest.raises(DeclarationError, match=r"prediction table 'utc_reader': field 'deps': reads prediction table 'source' \(Asia/Tokyo\) from UTC"):
        assets = [tokyo_source, declared("utc_reader", "b", deps=["source"])]
        with_launch_conditions(assets, declared_specs(assets))
    same_date = dg.AssetDep("source", partition_mapping=dg.IdentityPartitionMapping())
    defs = small_defs([tokyo_source, declared("utc_reader", "b", deps=[same_date]), declared("tokyo_reader", "c", deps=["source"], slo=SLO("0 8 * * *", "Asia/Tokyo"))])
    Upstream(instance).materialize(dg.AssetKey("source"), "2026-03-10")
    # 05:00 in Tokyo on 03-10 is 20:00 UTC on 03-09: the UTC reader's 03-10 partition does not exist yet
    found, cursor = requested(defs, instance, datetime(2026, 3, 10, 5, tzinfo=TOKYO))
    assert found == {"tokyo_reader": {"2026-03-10"}}
    found, _ = requested(defs, instance, datetime(2026, 3, 10, 0, 5, tzinfo=ZoneInfo("UTC")), cursor)
    assert found == {"utc_reader": {"2026-03-10"}}  # the day began in UTC: Tokyo's partition of the same date


class Broken(dg.AutomationCondition):
    def evaluate(self, context):
        raise RuntimeError("this product's condition is broken")


def test_one_products_failing_evaluation_does_not_stop_another_products_launch(instance):
    defs = small_defs([
        declared("source", "a"),
        declared("reads_source", "b", deps=["source"]),
        declared("own_condition", "c", automation_condition=Broken()),  # an author's own condition
    ])
    Upstream(instance).materialize(dg.AssetKey("source"), "2026-03-10")
    results = {}
    with freeze_time(datetime(2026, 3, 10, 6, tzinfo=ZoneInfo("UTC"))):
        for name in (launch_sensor_name("b"), launch_sensor_name("c")):  # what each sensor's code-server evaluation does
            try:
                results[name] = defs.resolve_sensor_def(name).evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
            except Exception as error:  # noqa: BLE001 - the daemon records a failed tick for that sensor only
                results[name] = error
    assert "own_condition" in str(results[launch_sensor_name("c")])  # that sensor's tick fails, alone
    [request] = results[launch_sensor_name("b")].run_requests
    assert request.partition_key == "2026-03-10" and request.tags[PRODUCT_TAG] == "b"
