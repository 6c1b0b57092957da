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


LAUNCH_REEXECUTION = """
mutation ($params: ExecutionParams) {
  launchPipelineReexecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
RUN = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      runId rootRunId pipelineName mode runConfigYaml
      tags { key value }
      assetSelection { path }
      assetCheckSelection { assetKey { path } name }
    }
  }
}"""


def test_reexecuting_the_check_step_of_a_scheduled_run_rechecks_its_partition_alone(deployment):
    """The run page's path: select the check step, Re-execute > Selected step, sent as the UI sends it
    (ui-core RunUtils.getReexecutionParamsForSelection, from the run as GraphQL returns it)."""
    instance = deployment.instance()
    schedule = "related_content_schedule"
    parent_run = deployment.wait_until(
        lambda: next((r for r in instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": schedule})) if r.is_finished), None),
        300,
        f"a finished run of {schedule}",
    )
    parent = deployment.graphql(RUN, {"runId": parent_run.run_id})["runOrError"]
    step = f"{TABLE}_quality_checks"
    root = parent["rootRunId"] or parent["runId"]
    hidden = {"dagster/is_resume_retry", "dagster/step_selection"}
    tags = [t for t in parent["tags"] if t["key"] not in hidden]
    tags += [{"key": "dagster/parent_run_id", "value": parent["runId"]}, {"key": "dagster/root_run_id", "value": root}]
    tags += [{"key": "dagster/step_selection", "value": step}]
    params = {
        "mode": parent["mode"],
        "runConfigData": parent["runConfigYaml"],
        "stepKeys": [step],
        "executionMetadata": {"parentRunId": parent["runId"], "rootRunId": root, "tags": tags},
        "selector": {
            "repositoryLocationName": LOCATION_NAME,
            "repositoryName": REPOSITORY_NAME,
            "pipelineName": parent["pipelineName"],
            "assetSelection": [{"path": k["path"]} for k in parent["assetSelection"] or []],
            # [] when the run has no explicit check list: then Dagster finds no check step to re-run.
            "assetCheckSelection": [{"assetKey": {"path": c["assetKey"]["path"]}, "name": c["name"]} for c in parent["assetCheckSelection"] or []],
        },
    }
    launched = deployment.graphql(LAUNCH_REEXECUTION, {"params": params})["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    run = deployment.wait_until(lambda: (r := instance.get_run_by_id(run_id)).is_finished and r, 300, "the re-executed check step")

    failures = [e.user_message for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.is_failure]
    assert run.status == dg.DagsterRunStatus.SUCCESS, failures
    assert instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records == []
    evaluated = [r.event_log_entry.dagster_event.event_specific_data for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records]
    assert evaluated and {e.asset_key.to_user_string() for e in evaluated} == {TABLE}
    assert {e.partition for e in evaluated} == {parent_run.tags["dagster/partition"]} and all(e.passed for e in evaluated)
