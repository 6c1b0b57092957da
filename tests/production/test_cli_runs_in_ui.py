"""Runs made by ``ml-platform`` are first-class in the UI: the run the session fixture made with
``ml-platform run`` is the code location's own asset job, with its origin and snapshot, and the UI
re-executes it through the daemon; ``ml-platform backfill`` is on the Backfills page, and the running
daemon follows it without launching a run of its own."""

import dagster as dg
import pytest

from tests.fixtures.dagster_deployment import LOCATION_NAME, REPOSITORY_NAME
from tests.production.conftest import FIRST_DAY

pytestmark = pytest.mark.timeout(600)

RUN = """query ($id: ID!) { runOrError(runId: $id) { ... on Run {
  pipelineName parentPipelineSnapshotId repositoryOrigin { repositoryLocationName repositoryName } } } }"""
JOBS = """query ($location: String!, $repository: String!) {
  repositoryOrError(repositorySelector: {repositoryLocationName: $location, repositoryName: $repository}) {
    ... on Repository { pipelines { name pipelineSnapshotId } } } }"""
REEXECUTE = """mutation ($params: ReexecutionParams!) { launchPipelineReexecution(reexecutionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
BACKFILLS = """{ partitionBackfillsOrError { ... on PartitionBackfills { results {
  id title status isAssetBackfill
  assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
    assetKey { path } numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed } } } } } } }"""


def test_a_cli_run_is_the_ui_asset_job_of_its_code_location_and_the_ui_re_executes_it(deployment):
    instance = deployment.instance()
    [cli_run] = instance.get_runs(dg.RunsFilter(tags={"ml_platform/product": "related_content", "dagster/partition": FIRST_DAY}))
    run = deployment.graphql(RUN, {"id": cli_run.run_id})["runOrError"]
    repository = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME}
    jobs = deployment.graphql(JOBS, {"location": LOCATION_NAME, "repository": REPOSITORY_NAME})["repositoryOrError"]["pipelines"]
    # What the UI matches before it enables Re-execute: the run's code location, and the snapshot of the
    # job that location has loaded (a match on both shows Re-execute with no warning).
    assert run["repositoryOrigin"] == repository
    assert run["parentPipelineSnapshotId"] == {j["name"]: j["pipelineSnapshotId"] for j in jobs}[run["pipelineName"]]

    launched = deployment.graphql(REEXECUTE, {"params": {"parentRunId": cli_run.run_id, "strategy": "ALL_STEPS"}})
    assert launched["launchPipelineReexecution"]["__typename"] == "LaunchRunSuccess", launched
    rerun_id = launched["launchPipelineReexecution"]["run"]["runId"]
    rerun = deployment.wait_until(lambda: (r := instance.get_run_by_id(rerun_id)).is_finished and r, 300, "the re-execution")
    assert rerun.status == dg.DagsterRunStatus.SUCCESS
    assert (rerun.parent_run_id, rerun.tags["dagster/partition"]) == (cli_run.run_id, FIRST_DAY)


def test_a_cli_backfill_is_on_the_backfills_page_and_the_daemon_only_follows_it(deployment):
    days = ["2026-02-10", "2026-02-11"]  # partitions no other test of the session uses
    deployment.cli("ml-platform", "backfill", "--start", days[0], "--end", days[-1], "--product", "related_content")
    title = f"ml-platform backfill {days[0]}...{days[-1]}"
    [backfill] = [b for b in deployment.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"] if b["title"] == title]
    assert (backfill["status"], backfill["isAssetBackfill"]) == ("COMPLETED_SUCCESS", True)
    counts = {
        s["assetKey"]["path"][-1]: (s["numPartitionsTargeted"], s["numPartitionsMaterialized"], s["numPartitionsFailed"])
        for s in backfill["assetBackfillData"]["assetBackfillStatuses"]
    }
    assert counts == {"article_texts": (2, 2, 0), "related_articles": (2, 2, 0)}
    runs = deployment.instance().get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill["id"]}))
    ranges = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in runs]
    assert ranges == [(days[0], days[-1])]  # the CLI's one run over the range; the daemon launched none
