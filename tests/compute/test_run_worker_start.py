"""A run whose run-worker pod cannot start fails within the grace, naming the reason, and pages once.

The run is launched by dagster-k8s's ``K8sRunLauncher`` into kmock; the fake kubelet holds the
run-worker pod in ``ImagePullBackOff``, or the fake Job controller creates no pod (a quota refuses
it). The production code location's ``run_worker_start_watch`` sensor ticks with a clock past the
grace; the run-failure alert sensor then posts to the local Slack Web API.
"""

import json
import time

import dagster as dg
import pytest

from ml_platform.alerting import AlertSink
from ml_platform.compute.backends.k8s_run_start import SENSOR_NAME, build_run_worker_start_watch
from ml_platform.declaration import MODEL_IO_MANAGER_KEY
from ml_platform.health.run_failure_alerts import build_run_failure_alert_sensor
from tests.compute import step_location
from tests.compute.helpers import reconstructable_job, wait_for
from tests.fixtures.kubernetes_cluster import RUN_WORKER
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN

pytestmark = pytest.mark.timeout(180)


def launch(instance: dg.DagsterInstance, retry_of: str | None = None) -> dg.DagsterRun:
    """A run of k8s_scores; ``retry_of``: as Dagster's run-retry daemon re-launches that failed run."""
    job = reconstructable_job("pod_start_defs")
    tags = {"dagster/parent_run_id": retry_of, "dagster/root_run_id": retry_of, "dagster/retry_number": "1"} if retry_of else None
    run = instance.create_run_for_job(
        job_def=job.get_definition(), job_code_origin=job.get_python_origin(), asset_selection=frozenset({dg.AssetKey("k8s_scores")}),
        tags=tags, parent_run_id=retry_of, root_run_id=retry_of,
    )
    instance.launch_run(run.run_id, workspace=None)  # K8sRunLauncher reads no workspace
    return run


def launch_stuck(instance: dg.DagsterInstance, controller, retry_of: str | None = None) -> tuple[dg.DagsterRun, str]:
    """A run (or a retry) launched, and its run-worker Job's name once the fake kubelet holds its pod."""
    run = launch(instance, retry_of)
    job_name = f"dagster-run-{run.run_id}"
    wait_for(lambda: controller.jobs.get(job_name) and controller.jobs[job_name].waiting, timeout=30, what=f"the pod of {job_name} to wait")
    return run, job_name


def tick_watch(instance: dg.DagsterInstance, seconds_after_launch: float) -> str:
    sensor = build_run_worker_start_watch(clock=lambda: time.time() + seconds_after_launch)
    return tick_sensor(dg.Definitions(sensors=[sensor]), SENSOR_NAME, instance, None).skip_message


class RunFailureAlerts:
    """The run-failure alert sensor, ticked with its cursor carried as the daemon carries it."""

    def __init__(self, instance: dg.DagsterInstance, slack_api):
        sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
        self.defs = dg.Definitions(assets=[step_location.k8s_scores], sensors=[build_run_failure_alert_sensor()],
                                   resources={"alert_sink": sink, MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager()})
        self.instance, self.cursor = instance, None

    def tick(self) -> str:
        result = tick_sensor(self.defs, "run_failure_alerts", self.instance, self.cursor)
        self.cursor = result.cursor
        return result.skip_message


def test_run_worker_whose_image_cannot_be_pulled_fails_within_the_grace_naming_it_and_pages_once(k8s_instance, kube, sagemaker, slack_api):
    controller, _ = kube
    controller.image_pull_failures.add(RUN_WORKER)
    run, job_name = launch_stuck(k8s_instance, controller)

    assert tick_watch(k8s_instance, 60) == "every starting run's worker is starting"  # within the grace
    assert k8s_instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTING

    assert tick_watch(k8s_instance, 400) == "failed 1 run(s) whose worker cannot start"
    failed = k8s_instance.get_run_by_id(run.run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    [failure] = k8s_instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    message = failure.event_log_entry.dagster_event.message
    assert message.startswith(f"The run worker (Kubernetes job {job_name}) never started: pod {job_name}-x7k2p cannot start: ImagePullBackOff")
    assert "the image name and tag" in message
    wait_for(lambda: controller.jobs[job_name].deleted, timeout=10, what="the Job to be deleted")  # its pod holds no node
    assert tick_watch(k8s_instance, 400) == "every starting run's worker is starting"  # failed once

    # deploy/dagster.yaml's run retries re-launch it once (an image may be pushed meanwhile): no page yet.
    assert failed.tags["dagster/will_retry"] == "true"
    alerts = RunFailureAlerts(k8s_instance, slack_api)
    assert "raised 0" in alerts.tick() and slack_api.messages == []
    retry, _ = launch_stuck(k8s_instance, controller, retry_of=run.run_id)
    k8s_instance.add_run_tags(run.run_id, {"dagster/auto_retry_run_id": retry.run_id})  # as the retry daemon records it
    assert tick_watch(k8s_instance, 400) == "failed 1 run(s) whose worker cannot start"
    assert k8s_instance.get_run_by_id(retry.run_id).tags["dagster/will_retry"] == "false"

    assert "raised 1" in alerts.tick()  # one page, for the run that will not be retried
    (alert,) = slack_api.messages
    body = json.dumps(alert["blocks"])
    assert "ImagePullBackOff: Back-off pulling image" in body and "never started" in body and retry.run_id[:8] in json.dumps(alert)
    assert "raised 0" in alerts.tick() and len(slack_api.messages) == 1


def test_a_run_whose_promised_retry_is_refused_pages_once(k8s_instance, kube, sagemaker, slack_api):
    """Dagster's retry daemon may refuse after tagging will_retry=true (it then tags it false)."""
    controller, _ = kube
    controller.image_pull_failures.add(RUN_WORKER)
    run, job_name = launch_stuck(k8s_instance, controller)
    assert tick_watch(k8s_instance, 400) == "failed 1 run(s) whose worker cannot start"
    alerts = RunFailureAlerts(k8s_instance, slack_api)
    assert "raised 0" in alerts.tick()
    k8s_instance.add_run_tags(run.run_id, {"dagster/will_retry": "false"})  # "Failed to retry run"
    assert "raised 1" in alerts.tick() and run.run_id[:8] in json.dumps(slack_api.messages[-1])
    assert "raised 0" in alerts.tick() and len(slack_api.messages) == 1


def test_run_worker_job_that_gets_no_pod_fails_naming_the_jobs_event(k8s_instance, kube, sagemaker):
    controller, _ = kube
    controller.over_quota.add(RUN_WORKER)
    run, job_name = launch_stuck(k8s_instance, controller)  # the quota refuses its pod

    assert tick_watch(k8s_instance, 400) == "failed 1 run(s) whose worker cannot start"
    [failure] = k8s_instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    message = failure.event_log_entry.dagster_event.message
    assert "no pod was created for it: FailedCreate: Error creating: pods" in message and "exceeded quota: compute" in message
    wait_for(lambda: controller.jobs[job_name].deleted, timeout=10, what="the Job to be deleted")


def test_the_watch_is_in_the_production_code_location_only(monkeypatch):
    from ml_platform.assembly import assemble_definitions
    from tests.fixtures.cli_catalog import ranged_events

    for name, value in {"ML_PLATFORM_GCP_PROJECT": "p", "ML_PLATFORM_BIGQUERY_DATASET": "d", "ML_PLATFORM_GCP_LOCATION": "EU",
                        "ML_PLATFORM_MODEL_BUCKET": "b"}.items():
        monkeypatch.setenv(name, value)
    production = {s.name for s in assemble_definitions([ranged_events], "production").sensors}
    local = {s.name for s in assemble_definitions([ranged_events], "local").sensors}
    assert SENSOR_NAME in production and SENSOR_NAME not in local
