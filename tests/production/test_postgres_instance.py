"""The production shape: daemon and webserver on a PostgreSQL instance configured by
deploy/dagster.yaml, running the real code location."""

import os
import re
import subprocess
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from ml_platform._dagster_internal import PartitionKeyFilter
from ml_platform.alerting import AlertLedger, Kind
from ml_platform.checks.alerts import SENSOR_NAME as QUALITY_SENSOR
from ml_platform.compute.profiles import PROFILES
from ml_platform.compute.run_limits import MAX_RUNTIME_TAG, step_budget_seconds
from ml_platform.declaration import declaration_of
from ml_platform.defs.propensity import propensity_scores, user_features
from ml_platform.defs.related_content import article_texts, related_articles
from ml_platform.slo.alerts import SENSOR_NAME as SLO_SENSOR
from ml_platform.slo.deadlines import deadline_partition, latest_deadline
from tests.fixtures.dagster_deployment import LOCATION_NAME, REPO_ROOT, REPOSITORY_NAME
from tests.production.conftest import SCHEDULED_PRODUCT

pytestmark = pytest.mark.timeout(600)

SCHEDULED_ASSETS = ["article_texts", "related_articles"]
# One product: its range runs in one run (a run worker, one step process per asset and check op).
BACKFILL_ASSETS = ["article_texts", "related_articles"]
BACKFILL_PARTITIONS = [f"2026-01-{day:02d}" for day in range(1, 8)]
LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""
SENSOR_TICKS = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        status
        typeSpecificData { ... on SensorData { lastCursor } }
        ticks(limit: 20) { status skipReason error { message } }
      }
    }
    ... on PythonError { message }
  }
}"""
# Never materialized in this deployment (their product has no run here): breached at their last deadline.
ROOT_TABLE, DOWNSTREAM_TABLE = declaration_of(user_features), declaration_of(propensity_scores)


def test_instance_from_deploy_config_uses_postgres_for_every_storage(deployment):
    instance = deployment.instance()
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert not instance.telemetry_enabled
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == max(p.max_runtime.total_seconds() for p in PROFILES.values())
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1


def test_pool_limits_script_sets_a_limit_for_every_compute_profile(deployment):
    subprocess.run(
        ["bash", str(REPO_ROOT / "deploy" / "set_pool_limits.sh")],
        env={**deployment.env, "PATH": f"{os.path.dirname(os.sys.executable)}:{deployment.env['PATH']}"},
        check=True,
        capture_output=True,
    )
    instance = deployment.instance()  # held: its storage keeps only a weak reference to it
    limits = {name: instance.event_log_storage.get_concurrency_info(name).slot_count for name in PROFILES}
    assert all(limit >= 1 for limit in limits.values()), limits
    assert limits["training"] < limits["small"]


# article_texts (small), then related_articles (large), each with every attempt its declared retries allow.
TABLES_CHAIN = step_budget_seconds("small", declaration_of(article_texts).retry_policy()) + step_budget_seconds(
    "large", declaration_of(related_articles).retry_policy()
)


def test_daemon_schedule_tick_launches_a_run_that_materializes_the_product(deployment):
    instance = deployment.instance()
    schedule_name = f"{SCHEDULED_PRODUCT}_schedule"

    def finished_scheduled_run():
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": schedule_name}))
        # a re-execution (another test re-runs a scheduled run from the UI) keeps the schedule's tags
        return next((run for run in runs if run.is_finished and "dagster/parent_run_id" not in run.tags), None)

    run = deployment.wait_until(finished_scheduled_run, 300, f"a run launched by {schedule_name}")
    assert run.status == dg.DagsterRunStatus.SUCCESS, deployment.processes["daemon"].log_tail()
    assert run.tags[MAX_RUNTIME_TAG] == str(int(TABLES_CHAIN))
    partition = run.tags["dagster/partition"]
    for name in SCHEDULED_ASSETS:  # other tests backfill, and re-run, partitions of the same assets
        records = instance.fetch_materializations(dg.AssetRecordsFilter(dg.AssetKey(name), asset_partitions=[partition]), limit=50).records
        assert run.run_id in {r.run_id for r in records}, (name, partition)


def test_seven_partition_backfill_launched_like_the_ui_runs_the_range_in_one_run_partition_by_partition(deployment):
    params = {"assetSelection": [{"path": [name]} for name in BACKFILL_ASSETS], "partitionNames": BACKFILL_PARTITIONS}
    result = deployment.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    instance = deployment.instance()

    def finished_backfill():
        backfill = instance.get_backfill(result["backfillId"])
        return backfill if backfill.status.value != "REQUESTED" else None

    backfill = deployment.wait_until(finished_backfill, 420, "the 7-partition backfill", interval=1.0)
    assert backfill.status.value == "COMPLETED_SUCCESS"
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": result["backfillId"]}))
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]  # one run for the range
    for name in BACKFILL_ASSETS:
        records = [r for r in instance.fetch_materializations(dg.AssetKey(name), limit=50).records if r.run_id == runs[0].run_id]
        assert sorted(r.partition_key for r in records) == BACKFILL_PARTITIONS  # one materialization per day
        counts = {r.asset_materialization.metadata["dagster/partition_row_count"].value for r in records}
        assert counts == {400 if name == "article_texts" else 4000}  # each day's own rows, not the range's
    check = dg.AssetCheckKey(dg.AssetKey("related_articles"), "row_count_change")
    for partition in BACKFILL_PARTITIONS:  # judged partition by partition
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([check], partition_filter=PartitionKeyFilter(key=partition))
        assert latest[check].evaluation.partition == partition
    # article_texts, its checks, related_articles, its checks: one after the other, each step over the 7 days
    chain = TABLES_CHAIN + (PROFILES["small"].max_runtime + PROFILES["large"].max_runtime).total_seconds()  # checks: no retries
    assert runs[0].tags[MAX_RUNTIME_TAG] == str(int(chain) * len(BACKFILL_PARTITIONS))


LAUNCH_RUN = """
mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""


def test_ui_materialize_of_the_asset_job_gets_the_run_time_limit_of_its_assets(deployment):
    """As the UI's "Materialize" button: the implicit asset job, two selected assets, no run tags of ours."""
    selector = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME, "pipelineName": "__ASSET_JOB",
                "assetSelection": [{"path": [name]} for name in SCHEDULED_ASSETS], "assetCheckSelection": []}
    params = {"selector": selector, "mode": "default", "runConfigData": {},
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2026-01-20"}]}}
    result = deployment.graphql(LAUNCH_RUN, {"params": params})["launchPipelineExecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    instance = deployment.instance()
    run_id = result["run"]["runId"]
    run = deployment.wait_until(lambda: (r := instance.get_run_by_id(run_id)).is_finished and r, 300, "the UI-launched run")
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags[MAX_RUNTIME_TAG] == str(int(TABLES_CHAIN))


def sensor_state(deployment, name: str) -> dict:
    selector = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME, "sensorName": name}
    sensor = deployment.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor
    return sensor["sensorState"]


def finished_ticks(deployment, name: str) -> list[dict]:
    return [t for t in sensor_state(deployment, name)["ticks"] if t["status"] != "STARTED"]


@pytest.mark.parametrize(
    "sensor, summary",
    [
        # The first tick may sum up tables that landed late before it (the CLI's first day trains the weekly model now).
        (SLO_SENSOR, r"^\d+ tables: \d+ pass, \d+ warn, \d+ fail(; first tick: [^;]*)?; alerts: raised \d+, resolved \d+, delivered \d+, backlog 0$"),
        (QUALITY_SENSOR, r"^\d+ open data-quality incident\(s\); alerts: raised \d+, resolved \d+, delivered \d+, backlog 0$"),
    ],
)
def test_daemon_ticks_the_alert_sensor_on_postgres_without_failure(deployment, sensor, summary):
    """Both alert sensors are RUNNING by default: the daemon ticks them with no start needed."""
    ticks = deployment.wait_until(lambda: finished_ticks(deployment, sensor), 180, f"a finished tick of {sensor}")
    assert sensor_state(deployment, sensor)["status"] == "RUNNING"
    assert [t for t in ticks if t["status"] == "FAILURE"] == [], ticks
    assert {t["status"] for t in ticks} <= {"SUCCESS", "SKIPPED"}
    assert all(re.match(summary, t["skipReason"] or "") for t in ticks), [t["skipReason"] for t in ticks]


def test_slo_sensor_on_postgres_raises_one_breach_per_never_materialized_table_with_its_cause(deployment):
    deployment.wait_until(lambda: finished_ticks(deployment, SLO_SENSOR), 180, f"a finished tick of {SLO_SENSOR}")
    now = datetime.now(timezone.utc)
    instance = deployment.instance()
    ledger = AlertLedger.load(instance, SLO_SENSOR, sensor_state(deployment, SLO_SENSOR)["typeSpecificData"]["lastCursor"])
    breaches = {}
    for table in (ROOT_TABLE, DOWNSTREAM_TABLE):
        found = [a for a in ledger.open_alerts(Kind.SLO_BREACH) if a.asset == table.name]
        assert len(found) == 1, (table.name, ledger.open_alerts())
        breaches[table.name] = found[0]
        # The deadline judged at the tick: the latest before now, or the one before if a deadline just passed.
        latest = latest_deadline(table, now)
        previous = latest_deadline(table, latest - timedelta(seconds=1))
        assert found[0].partition in {deadline_partition(table, d) for d in (latest, previous)}
    root, downstream = (dict(breaches[t.name].details) for t in (ROOT_TABLE, DOWNSTREAM_TABLE))
    assert root["cause"] == "no_run" and f"{ROOT_TABLE.product}_schedule" in root["why"], root
    assert downstream["cause"] == "upstream_late" and ROOT_TABLE.name in downstream["why"], downstream
    assert ledger.outbox == []  # delivered: the deployment has no Slack token, so to the console sink
