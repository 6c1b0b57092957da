"""Checks re-run alone through the UI's own protocol: every check of every table answers
``canExecuteIndividually: CAN_EXECUTE`` on the webserver's GraphQL, and a check-only run on one
partition, launched as the UI launches it, runs through the daemon without materializing the
table and repeats the verdicts the materializing run gave."""

import dagster as dg
import pytest

from ml_platform._dagster_internal import PartitionKeyFilter
from tests.fixtures.dagster_deployment import LOCATION_NAME, REPOSITORY_NAME
from tests.production.conftest import FIRST_DAY

pytestmark = pytest.mark.timeout(600)

ASSET_CHECKS = """
{
  assetNodes {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name canExecuteIndividually jobNames } } }
  }
}"""
LAUNCH_RUN = """
mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
TABLE = "related_articles"
SELECTED = ("row_count_change", "duplicate_keys")  # one history check, one content check


def checks_by_table(deployment) -> dict[str, list[dict]]:
    nodes = deployment.graphql(ASSET_CHECKS)["assetNodes"]
    return {"/".join(n["assetKey"]["path"]): n["assetChecksOrError"].get("checks", []) for n in nodes if n["assetChecksOrError"].get("checks")}


def test_every_check_of_every_table_can_execute_individually(deployment):
    checks = checks_by_table(deployment)
    assert {"related_articles", "article_recommendations", "propensity_scores"} <= set(checks)
    assert {"prediction_drift", "row_count_change"} <= {c["name"] for c in checks["article_recommendations"]}
    not_alone = {(table, c["name"]): c["canExecuteIndividually"] for table, cs in checks.items() for c in cs if c["canExecuteIndividually"] != "CAN_EXECUTE"}
    assert not_alone == {}


def test_check_only_run_on_a_partition_runs_through_the_daemon_and_repeats_the_verdicts(deployment):
    instance = deployment.instance()
    keys = [dg.AssetCheckKey(dg.AssetKey(TABLE), name) for name in SELECTED]
    before = latest_evaluations(instance, keys)  # from the CLI run of FIRST_DAY (tests/production/conftest.py)
    assert set(before) == set(keys)

    # As the UI's check execution does: a job holding every selected check, no asset selected.
    checks = {c["name"]: c for c in checks_by_table(deployment)[TABLE]}
    jobs = [job for job in checks[SELECTED[0]]["jobNames"] if all(job in checks[name]["jobNames"] for name in SELECTED)]
    params = {
        "mode": "default",
        "runConfigData": "{}",
        "selector": {
            "repositoryLocationName": LOCATION_NAME,
            "repositoryName": REPOSITORY_NAME,
            "jobName": jobs[0],
            "assetSelection": [],
            "assetCheckSelection": [{"assetKey": {"path": [TABLE]}, "name": name} for name in SELECTED],
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": FIRST_DAY}]},
    }
    launched = deployment.graphql(LAUNCH_RUN, {"params": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    run = deployment.wait_until(lambda: (r := instance.get_run_by_id(run_id)).is_finished and r, 300, "the check-only run")

    assert run.status == dg.DagsterRunStatus.SUCCESS, deployment.processes["daemon"].log_tail()
    assert instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records == []
    evaluated = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    assert sorted(r.event_log_entry.dagster_event.event_specific_data.check_name for r in evaluated) == sorted(SELECTED)
    after = latest_evaluations(instance, keys)
    for key in keys:
        assert after[key][0] == run_id
        old, new = before[key][1], after[key][1]
        assert (new.passed, new.severity, new.description, new.partition) == (old.passed, old.severity, old.description, FIRST_DAY)


def latest_evaluations(instance, keys) -> dict[dg.AssetCheckKey, tuple[str, dg.AssetCheckEvaluation]]:
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys, partition_filter=PartitionKeyFilter(key=FIRST_DAY))
    return {key: (record.run_id, record.evaluation) for key, record in records.items() if record.evaluation is not None}
