"""Runs whose steps go to Kubernetes (kmock), SageMaker (moto) and a local process, for real."""

import dagster as dg
import kubernetes_validate
import pytest

from ml_platform.compute.backends.kubernetes import NODE_POOL_LABEL
from ml_platform.compute.backends.sagemaker_jobs import LOG_GROUP
from ml_platform.compute.step_usage import DURATION_KEY, MEMORY_SOURCE_KEY, PEAK_MEMORY_KEY, STARTUP_KEY
from tests.compute.helpers import latest_attempt, reconstructable_job, step_failures, worker_messages

pytestmark = pytest.mark.timeout(180)

CAPACITY_ERROR = "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type."


def test_one_run_mixes_kubernetes_sagemaker_and_local_steps(k8s_instance, kube, sagemaker, postgres):
    controller, _ = kube
    result = dg.execute_job(reconstructable_job("cloud_defs"), instance=k8s_instance)

    assert result.success
    messages = worker_messages(k8s_instance, result.run_id)
    assert "in local process" in messages["light_counts"]
    assert "in Kubernetes job" in messages["k8s_scores"]
    assert "in SageMaker Processing Job" in messages["sagemaker_model"]

    (k8s_job,) = controller.wait_until_finished().values()
    assert k8s_job.exit_code == 0
    kubernetes_validate.validate(k8s_job.manifest, "1.32", strict=True)
    pod = k8s_job.manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {NODE_POOL_LABEL: "standard"}
    assert pod["containers"][0]["resources"]["requests"]["memory"] == "1Gi"

    (sm_job,) = sagemaker.wait_until_finished().values()
    assert sm_job.statuses == ["InProgress", "Completed"]
    cluster = sm_job.request["ProcessingResources"]["ClusterConfig"]
    assert (cluster["InstanceType"], cluster["InstanceCount"], cluster["VolumeSizeInGB"]) == ("ml.m5.xlarge", 1, 50)
    assert sm_job.request["StoppingCondition"]["MaxRuntimeInSeconds"] == 4 * 3600
    environment = sm_job.request["Environment"]
    assert all(len(v) <= 256 for v in environment.values())  # SageMaker's limit
    assert "DAGSTER_PG_PASSWORD" not in environment and sm_job.request["AppSpecification"]["ContainerEntrypoint"][0] == "python"
    password = postgres.dagster_env()["DAGSTER_PG_PASSWORD"]
    assert password not in str(k8s_job.manifest) and password not in str(environment)  # only names: envFrom, ARNs

    for name, source in (("light_counts", "process tree"), ("k8s_scores", "cgroup"), ("sagemaker_model", "cgroup")):
        assert k8s_instance.get_latest_materialization_event(dg.AssetKey(name)).run_id == result.run_id
        attempt = latest_attempt(k8s_instance, name)  # each backend's own peak reader
        assert attempt["run_id"] == result.run_id and attempt[PEAK_MEMORY_KEY] > 20
        assert attempt[MEMORY_SOURCE_KEY].startswith(source), attempt
        assert attempt[STARTUP_KEY] >= 0 and attempt[DURATION_KEY] > 0


def test_every_dagster_k8s_executor_key_reaches_the_step_job(k8s_instance, kube, sagemaker):
    controller, _ = kube
    result = dg.execute_job(reconstructable_job("k8s_keys_defs"), instance=k8s_instance)

    assert result.success, step_failures(k8s_instance, result.run_id)
    (job,) = controller.wait_until_finished().values()
    kubernetes_validate.validate(job.manifest, "1.32", strict=True)
    pod = job.manifest["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == "ml-platform-steps"
    assert pod["metadata"]["labels"]["ml-platform/team"] == "platform"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert {"configMapRef": {"name": "ml-platform-step-config"}} in pod["spec"]["containers"][0]["envFrom"]


def test_failing_sagemaker_job_fails_the_step_with_the_cloud_reason_and_logs(k8s_instance, kube, sagemaker):
    sagemaker.plans["sagemaker_model"] = ("fail", CAPACITY_ERROR)
    result = dg.execute_job(reconstructable_job("cloud_defs"), instance=k8s_instance, raise_on_error=False)

    assert not result.success
    failure = step_failures(k8s_instance, result.run_id)["sagemaker_model"]
    assert CAPACITY_ERROR in failure
    assert f"CloudWatch {LOG_GROUP}" in failure and "provisioning failed" in failure
    assert k8s_instance.get_latest_materialization_event(dg.AssetKey("k8s_scores")).run_id == result.run_id


def test_sagemaker_step_whose_secret_is_missing_fails_naming_the_secret(k8s_instance, kube, sagemaker, aws, monkeypatch):
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ml-platform/not-created-AbCdEf"
    monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_SECRET_ARNS", missing)
    result = dg.execute_job(reconstructable_job("cloud_defs"), instance=k8s_instance, raise_on_error=False)

    assert not result.success
    failure = step_failures(k8s_instance, result.run_id)["sagemaker_model"]
    assert f"cannot read secret {missing} from AWS Secrets Manager" in failure and "ResourceNotFoundException" in failure
    assert k8s_instance.get_latest_materialization_event(dg.AssetKey("k8s_scores")).run_id == result.run_id


def test_throttled_create_processing_job_is_retried_with_backoff(k8s_instance, kube, sagemaker, aws):
    aws.server.throttle_creates = 2  # CreateProcessingJob's rate limit is low; SageMaker answers ThrottlingException
    job = reconstructable_job("cloud_defs")
    result = dg.execute_job(job, instance=k8s_instance, asset_selection=[dg.AssetKey("sagemaker_model")])

    assert result.success and aws.server.create_attempts == 3
    assert k8s_instance.get_latest_materialization_event(dg.AssetKey("sagemaker_model")).run_id == result.run_id


def test_ui_style_single_asset_launch_still_gets_its_profile(k8s_instance, kube, sagemaker):
    controller, _ = kube
    job = reconstructable_job("cloud_defs")
    assert dg.execute_job(job, instance=k8s_instance, asset_selection=[dg.AssetKey("light_counts")]).success

    # As the UI's "Materialize" does: the asset job, one selected asset, no run tags.
    result = dg.execute_job(job, instance=k8s_instance, asset_selection=[dg.AssetKey("k8s_scores")])

    assert result.success and not result.dagster_run.tags.get("dagster-k8s/config")
    (k8s_job,) = controller.wait_until_finished().values()
    resources = k8s_job.manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"}
    assert k8s_job.manifest["spec"]["backoffLimit"] == 0
    assert not sagemaker.jobs
