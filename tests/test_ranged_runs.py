"""A run over a partition range (what a backfill launches with the single-run policy): the table's
function still runs per partition, each partition is its own materialization, checks and gate."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml_platform.assembly import assemble_definitions
from ml_platform.compute.step_metrics import with_step_metrics
from ml_platform.declaration import Expectations, RowCountPolicy, declared_specs
from ml_platform.decorators import Product, feature_table, prediction_table
from ml_platform.monitoring.settings import Monitoring
from ml_platform.ranged_runs import FAILED_PARTITIONS, with_partition_ranges
from tests.fixtures.product_runs import check_evaluations

LAB = Product("lab", owner="team:lab", timezone="Asia/Tokyo")
DAYS = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]
ROWS = {day: 100 for day in DAYS}  # rows of `events` per day; a test changes it with monkeypatch
BROKEN: set[str] = set()  # days on which `scores` raises


@feature_table(LAB, slo="0 6 * * *", retries=0, expectations=Expectations(key_columns=("user_id",), row_count=RowCountPolicy(history=3)))
def events(context: dg.AssetExecutionContext) -> pd.DataFrame:
    day = context.partition_time_window.start.date().isoformat()
    assert context.partition_key == day  # the function sees one partition, even in a ranged run
    context.add_output_metadata({"day seen": day})
    return pd.DataFrame({"date": pd.Timestamp(day), "user_id": range(ROWS[day])})


@prediction_table(
    LAB, slo="0 8 * * *", retries=0, monitoring=Monitoring(enabled=False),
    expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
)
def scores(events: pd.DataFrame) -> pd.DataFrame:
    day = events["date"].iloc[0].date().isoformat()
    assert set(events["date"]) == {pd.Timestamp(day)}  # this partition's rows only
    if day in BROKEN:
        raise ValueError(f"no model for {day}")
    return events.assign(score=0.5)


@pytest.fixture
def lab(local_env):
    return assemble_definitions([events, scores], "local").resolve_implicit_global_asset_job_def()


def run_range(job: dg.JobDefinition, instance, first: str, last: str, *assets: str) -> dg.ExecuteInProcessResult:
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    selection = [dg.AssetKey(a) for a in assets or ("events", "scores")]
    return job.execute_in_process(instance=instance, tags=tags, asset_selection=selection, raise_on_error=False)


def run_day(job: dg.JobDefinition, instance, day: str, *assets: str) -> dg.ExecuteInProcessResult:
    selection = [dg.AssetKey(a) for a in assets or ("events", "scores")]
    return job.execute_in_process(instance=instance, partition_key=day, asset_selection=selection, raise_on_error=False)


def materializations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict]:
    """The materializations the run recorded for ``asset``, by partition (a failed step's too)."""
    found = [e.event_specific_data.materialization for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    return {
        m.partition: {k: getattr(v, "value", v) for k, v in m.metadata.items()} for m in found if m.asset_key == dg.AssetKey(asset)
    }


def warehouse_rows(local_env, table: str) -> dict[str, int]:
    with duckdb.connect(str(local_env / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute(f"select strftime(date, '%Y-%m-%d'), count(*) from ml_platform.{table} group by 1").fetchall()
    return dict(rows)


def test_every_declared_daily_table_backfills_a_range_in_one_run(lab):
    assert {key.to_user_string(): node.backfill_policy for key, node in ((k, lab.asset_layer.asset_graph.get(k)) for k in lab.asset_layer.asset_graph.get_all_asset_keys()) if node.partitions_def} == {
        "events": dg.BackfillPolicy.single_run(), "scores": dg.BackfillPolicy.single_run()
    }


def test_each_partition_of_a_range_is_its_own_materialization_with_row_count_peak_and_cost(lab, instance, local_env, monkeypatch):
    monkeypatch.setitem(ROWS, "2026-03-02", 80)
    result = run_range(lab, instance, "2026-03-01", "2026-03-03")
    assert result.success
    produced = materializations(result, "events")
    assert {p: m["dagster/partition_row_count"] for p, m in produced.items()} == {"2026-03-01": 100, "2026-03-02": 80, "2026-03-03": 100}
    assert {p: m["day seen"] for p, m in produced.items()} == {p: p for p in produced}
    for asset in ("events", "scores"):  # one attempt record per partition, each with its share of the step
        records = {e.event_specific_data.asset_observation.partition: e.event_specific_data.asset_observation.metadata
                   for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"
                   and e.event_specific_data.asset_observation.asset_key == dg.AssetKey(asset)}
        assert sorted(records) == ["2026-03-01", "2026-03-02", "2026-03-03"]
        for metadata in records.values():
            assert metadata["ml_platform/peak_memory_mib"].value > 0 and metadata["ml_platform/step_duration_s"].value >= 0
            assert metadata["ml_platform/cost_usd"].value >= 0 and metadata["ml_platform/range_share"].value == "1/3"
    assert warehouse_rows(local_env, "events") == {"2026-03-01": 100, "2026-03-02": 80, "2026-03-03": 100}
    assert warehouse_rows(local_env, "scores") == warehouse_rows(local_env, "events")


def test_checks_in_a_ranged_run_judge_each_partition_against_its_own_history(lab, instance, monkeypatch):
    monkeypatch.setitem(ROWS, "2026-03-05", 50)  # a drop on one day of the range
    result = run_range(lab, instance, DAYS[0], DAYS[-1], "events")
    assert result.success  # the check is recorded per partition; consumers are gated per partition
    by_partition = {
        (e.event_specific_data.partition, e.event_specific_data.check_name): e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert {p for p, _ in by_partition} == set(DAYS)
    change = {p: (ev.passed, ev.severity.value) for (p, check), ev in by_partition.items() if check == "row_count_change"}
    assert change["2026-03-05"] == (False, "ERROR")
    assert all(passed for p, (passed, _) in change.items() if p != "2026-03-05")
    records = {r.partition_key: r.storage_id for r in instance.fetch_materializations(dg.AssetKey("events"), limit=10).records}
    assert {p: ev.target_materialization_data.storage_id for (p, c), ev in by_partition.items() if c == "row_count_change"} == records


def test_ranged_verdicts_match_the_same_days_run_one_by_one(local_env, monkeypatch):
    monkeypatch.setitem(ROWS, "2026-03-04", 85)
    monkeypatch.setitem(ROWS, "2026-03-06", 60)
    verdicts = []
    for ranged in (True, False):
        job = assemble_definitions([events, scores], "local").resolve_implicit_global_asset_job_def()
        with dg.instance_for_test() as instance:
            results = [run_range(job, instance, DAYS[0], DAYS[-1], "events")] if ranged else [run_day(job, instance, d, "events") for d in DAYS]
            verdicts.append({
                (e.event_specific_data.partition, e.event_specific_data.check_name): (e.event_specific_data.passed, e.event_specific_data.severity)
                for r in results for e in r.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
            })
    assert verdicts[0] == verdicts[1]
    assert verdicts[0][("2026-03-06", "row_count_change")] == (False, dg.AssetCheckSeverity.ERROR)


def test_one_failed_day_fails_only_its_partition_and_names_it(lab, instance, local_env, monkeypatch):
    assert run_day(lab, instance, "2026-03-02").success  # yesterday's data of the day that will fail
    monkeypatch.setattr("tests.test_ranged_runs.BROKEN", {"2026-03-02"})
    monkeypatch.setitem(ROWS, "2026-03-02", 90)
    result = run_range(lab, instance, "2026-03-01", "2026-03-03")
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.event_specific_data
    assert failure.step_key == "scores"
    assert "2026-03-02: ValueError: no model for 2026-03-02" in data.user_failure_data.description
    assert data.user_failure_data.metadata[FAILED_PARTITIONS].value == {"2026-03-02": "ValueError: no model for 2026-03-02"}
    assert set(materializations(result, "scores")) == {"2026-03-01", "2026-03-03"}
    assert materializations(result, "scores")["2026-03-01"]["dagster/partition_row_count"] == 100
    # The failed day keeps its previous rows (100 from the earlier run); the others are written.
    assert warehouse_rows(local_env, "scores") == {"2026-03-01": 100, "2026-03-02": 100, "2026-03-03": 100}
    assert instance.get_materialized_partitions(dg.AssetKey("scores")) == {"2026-03-01", "2026-03-02", "2026-03-03"}


def test_a_partition_whose_upstream_failed_an_error_check_is_refused_alone(lab, instance, local_env, monkeypatch):
    for day in DAYS[:3]:
        assert run_day(lab, instance, day, "events").success
    monkeypatch.setitem(ROWS, "2026-03-05", 10)  # row_count_change ERROR on that day only
    assert run_range(lab, instance, "2026-03-04", "2026-03-06", "events").success
    result = run_range(lab, instance, "2026-03-04", "2026-03-06", "scores")
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "upstream table 'events' partition 2026-03-05 failed its check(s) row_count_change with ERROR" in failure.event_specific_data.user_failure_data.description
    assert set(materializations(result, "scores")) == {"2026-03-04", "2026-03-06"}
    assert set(warehouse_rows(local_env, "scores")) == {"2026-03-04", "2026-03-06"}


def test_a_single_partition_run_takes_the_unchanged_path(lab, instance):
    result = run_day(lab, instance, "2026-03-01")
    assert result.success
    (metadata,) = materializations(result, "scores").values()
    assert "ml_platform/partition_range" not in metadata and metadata["dagster/partition_row_count"] == 100
    assert {c for (_, c) in check_evaluations(result)} >= {"row_count_change", "score_range"}
    assert {e.partition for e in result.get_asset_check_evaluations()} == {"2026-03-01"}


@pytest.fixture
def bigquery_events(local_env, monkeypatch):
    """(fake BigQuery, the ranged ``events`` job writing to it): the platform's ranged step without
    the checks, whose reads the fake BigQuery does not serve."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    from ml_platform.resources.bigquery_warehouse import AtomicBigQueryPandasIOManager
    from tests.fixtures.bigquery_api import BigQueryServer

    project, dataset = "ml-platform-test", "ml_platform"
    with BigQueryServer() as fake:
        fake.datasets.add((project, dataset))  # created at deploy time (docs/operations.md)
        monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), project))
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", fake.url)
        manager = AtomicBigQueryPandasIOManager(project=project, dataset=dataset, location="EU")
        ranged_events = with_step_metrics(with_partition_ranges([events], declared_specs([events])))
        yield fake, dg.Definitions(assets=ranged_events, resources={"io_manager": manager}).resolve_implicit_global_asset_job_def()


def stored_days(fake) -> dict[str, int]:
    stored = fake.table("ml-platform-test", "ml_platform", "events").rename(columns=str.lower)
    return pd.to_datetime(stored["date"]).dt.tz_convert(None).dt.strftime("%Y-%m-%d").value_counts().to_dict()


def test_in_bigquery_the_good_partitions_of_a_failed_range_are_each_loaded_into_their_partition(bigquery_events, monkeypatch):
    fake, job = bigquery_events
    with dg.instance_for_test() as instance:
        assert run_day(job, instance, "2026-03-03", "events").success
        monkeypatch.setitem(ROWS, "2026-03-02", 70)
        monkeypatch.setitem(ROWS, "2026-03-03", 0)  # an empty frame: refused, as a single-partition write refuses it
        result = run_range(job, instance, "2026-03-01", "2026-03-03", "events")
        assert instance.get_materialized_partitions(dg.AssetKey("events")) == {"2026-03-01", "2026-03-02", "2026-03-03"}
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert list(failure.event_specific_data.user_failure_data.metadata[FAILED_PARTITIONS].value) == ["2026-03-03"]
    assert stored_days(fake) == {"2026-03-01": 100, "2026-03-02": 70, "2026-03-03": 100}  # 03-03 keeps its previous rows
    ranged_loads = [job["destinationTable"]["tableId"] for job in fake.load_jobs()[1:]]
    assert sorted(ranged_loads) == ["events$20260301", "events$20260302"]
    assert {job["writeDisposition"] for job in fake.load_jobs()} == {"WRITE_TRUNCATE"}


def test_the_run_failure_alert_names_each_failed_partition_of_a_range(local_env, instance, monkeypatch, slack_api):
    from ml_platform.alerting import AlertSink
    from tests.fixtures.sensor_ticks import tick_sensor
    from tests.fixtures.slack_api import TEST_TOKEN

    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
    defs = assemble_definitions([events, scores], "local", resources={"alert_sink": sink})
    monkeypatch.setattr("tests.test_ranged_runs.BROKEN", {"2026-03-02", "2026-03-04"})
    assert not run_range(defs.resolve_implicit_global_asset_job_def(), instance, "2026-03-01", "2026-03-05").success
    tick_sensor(defs, "run_failure_alerts", instance, None)
    titles = sorted(m["text"] for m in slack_api.messages)
    assert titles == [
        "ERROR: Run failed: scores (step scores): partition 2026-03-02 (scores, 2026-03-02)",
        "ERROR: Run failed: scores (step scores): partition 2026-03-04 (scores, 2026-03-04)",
    ]


def test_a_ranged_run_that_failed_as_a_whole_resolves_once_every_day_of_its_range_landed_again(local_env, instance, slack_api):
    from ml_platform.alerting import AlertSink
    from tests.fixtures.sensor_ticks import tick_sensor
    from tests.fixtures.slack_api import TEST_TOKEN

    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
    defs = assemble_definitions([events, scores], "local", resources={"alert_sink": sink})
    job = defs.resolve_implicit_global_asset_job_def()
    # scores alone over three days whose input never landed: its step fails before any day is written
    assert not run_range(job, instance, "2026-03-01", "2026-03-03", "scores").success
    cursor = tick_sensor(defs, "run_failure_alerts", instance, None).cursor
    assert [m["text"] for m in slack_api.messages] == ["ERROR: Run failed: scores (step scores) (scores, 2026-03-01...2026-03-03)"]

    assert run_range(job, instance, "2026-03-01", "2026-03-02").success  # two of the three days again
    cursor = tick_sensor(defs, "run_failure_alerts", instance, cursor).cursor
    assert len(slack_api.messages) == 1  # still open: 03-03 has not landed

    assert run_day(job, instance, "2026-03-03").success  # the last day, in another run and tick
    tick_sensor(defs, "run_failure_alerts", instance, cursor)
    assert [m["text"] for m in slack_api.messages][1:] == ["RESOLVED: Materialized again: scores (scores, 2026-03-01...2026-03-03)"]


def test_in_bigquery_a_successful_range_loads_each_day_into_its_partition_and_keeps_the_others(bigquery_events):
    fake, job = bigquery_events
    with dg.instance_for_test() as instance:
        assert run_day(job, instance, "2026-03-05", "events").success
        assert run_range(job, instance, "2026-03-01", "2026-03-02", "events").success
    assert stored_days(fake) == {"2026-03-01": 100, "2026-03-02": 100, "2026-03-05": 100}  # 03-05 is kept
    assert sorted(job["destinationTable"]["tableId"] for job in fake.load_jobs()[1:]) == ["events$20260301", "events$20260302"]


def test_a_ranged_backfill_conforms_a_string_date_column_and_a_rerun_keeps_one_copy(local_env, instance, monkeypatch):
    """As a single-day write does: the partition column is conformed to the partitions' type, so the
    range's delete matches its rows and a second backfill replaces them."""

    @feature_table(LAB, slo="0 6 * * *", retries=0)
    def text_dates(context: dg.AssetExecutionContext) -> pd.DataFrame:
        days = pd.date_range(context.partition_time_window.start.date(), context.partition_time_window.end.date(), inclusive="left")
        return pd.DataFrame({"date": [d.strftime("%Y-%m-%d") for d in days for _ in range(20)], "n": range(20 * len(days))})

    job = assemble_definitions([text_dates], "local").resolve_implicit_global_asset_job_def()
    for _ in range(2):
        assert run_range(job, instance, "2026-03-01", "2026-03-02", "text_dates").success
    assert warehouse_rows(local_env, "text_dates") == {"2026-03-01": 20, "2026-03-02": 20}
