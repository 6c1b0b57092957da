"""A step pod that cannot start fails its step within the grace period, with the pod's reason.

Runs go through the routing executor and dagster-k8s against kmock; the fake kubelet reports the
waiting reason of a container whose Secret is missing or whose image cannot be pulled, and the
fake scheduler the ``Unschedulable`` condition of a pod no node can take.
"""

import json
import time

import dagster as dg
import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
)

from ml_platform.alerting import AlertSink
from ml_platform.compute.backends.k8s_pod_start import PodStartWatch
from ml_platform.declaration import MODEL_IO_MANAGER_KEY
from ml_platform.health.run_failure_alerts import build_run_failure_alert_sensor
from tests.compute import step_location
from tests.compute.conftest import STEP_SECRET
from tests.compute.helpers import reconstructable_job, step_failures
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN

pytestmark = pytest.mark.timeout(180)


def run_k8s_step(instance) -> tuple[dg.DagsterRun, float]:
    started = time.monotonic()
    result = dg.execute_job(reconstructable_job("pod_start_defs"), instance=instance, raise_on_error=False)
    return result.dagster_run, time.monotonic() - started


def test_pod_whose_secret_is_missing_fails_its_step_with_the_reason_and_the_alert_names_it(k8s_instance, kube, sagemaker, slack_api):
    controller, _ = kube
    controller.core.delete_namespaced_secret(STEP_SECRET, "default")

    run, _ = run_k8s_step(k8s_instance)

    assert run.status == dg.DagsterRunStatus.FAILURE
    failure = step_failures(k8s_instance, run.run_id)["k8s_scores"]
    assert f'CreateContainerConfigError: secret "{STEP_SECRET}" not found' in failure
    assert "grace 2 s" in failure and "Secret and ConfigMap the pod reads" in failure
    (job,) = controller.wait_until_finished().values()
    assert job.waiting == "CreateContainerConfigError" and job.pid is None  # the container never ran
    assert job.deleted  # the stuck Job is removed, so its pod holds no node

    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
    defs = dg.Definitions(assets=[step_location.k8s_scores], sensors=[build_run_failure_alert_sensor()],
                          resources={"alert_sink": sink, MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager()})
    summary = tick_sensor(defs, "run_failure_alerts", k8s_instance, None).skip_message
    assert "raised 1" in summary, summary
    (message,) = slack_api.messages
    body = json.dumps(message["blocks"])
    assert "CreateContainerConfigError" in body and STEP_SECRET in body and "namespace default" in body


def test_image_that_cannot_be_pulled_fails_the_step_naming_the_image(k8s_instance, kube, sagemaker):
    controller, _ = kube
    controller.image_pull_failures.add("k8s_scores")

    run, _ = run_k8s_step(k8s_instance)

    failure = step_failures(k8s_instance, run.run_id)["k8s_scores"]
    assert "ImagePullBackOff: Back-off pulling image" in failure and "the image name and tag" in failure


def test_unschedulable_pod_gets_the_longer_grace_before_failing(k8s_instance, kube, sagemaker):
    controller, _ = kube
    controller.unschedulable.add("k8s_scores")

    run, seconds = run_k8s_step(k8s_instance)

    failure = step_failures(k8s_instance, run.run_id)["k8s_scores"]
    assert "Unschedulable: 0/3 nodes are available" in failure and "grace 6 s" in failure
    assert seconds >= 6  # not the 2 s start timeout


def test_job_that_gets_no_pod_fails_its_step_within_the_start_grace_naming_the_jobs_event(k8s_instance, kube, sagemaker):
    controller, _ = kube
    controller.over_quota.add("k8s_scores")

    run, seconds = run_k8s_step(k8s_instance)

    failure = step_failures(k8s_instance, run.run_id)["k8s_scores"]
    assert "no pod was created for it: FailedCreate: Error creating: pods" in failure and "exceeded quota: compute" in failure
    assert "grace 2 s" in failure and "ResourceQuota and LimitRange, and admission webhooks" in failure
    (job,) = controller.wait_until_finished().values()
    assert job.deleted and job.pid is None  # the Job is removed: it would have waited for its activeDeadlineSeconds


def waiting_pod(reason: str) -> V1Pod:
    state = V1ContainerState(waiting=V1ContainerStateWaiting(reason=reason, message="m"))
    status = V1ContainerStatus(name="c", ready=False, restart_count=0, image="i", image_id="", state=state)
    return V1Pod(metadata=V1ObjectMeta(name="p"), spec=None, status=V1PodStatus(phase="Pending", container_statuses=[status]))


def test_grace_counts_from_the_first_check_that_saw_the_problem_and_ignores_ordinary_waits():
    now = [100.0]
    watch = PodStartWatch(start_timeout=300, unschedulable_timeout=1800, clock=lambda: now[0])
    unschedulable = V1Pod(metadata=V1ObjectMeta(name="u"), status=V1PodStatus(phase="Pending", conditions=[
        V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable", message="no node")]))
    assert watch.failure([waiting_pod("ContainerCreating"), unschedulable], "ns") is None
    now[0] = 400.0
    assert watch.failure([waiting_pod("ContainerCreating"), unschedulable], "ns") is None  # 300 s: not yet 1800
    assert watch.failure([waiting_pod("ErrImagePull")], "ns") is None  # first seen now
    now[0] = 700.0
    assert "ErrImagePull" in watch.failure([waiting_pod("ErrImagePull")], "ns")
    now[0] = 1900.0
    assert "Unschedulable: no node" in watch.failure([unschedulable], "ns")
