"""Automatic memory through the real step handlers: dagster-k8s against kmock, SageMaker against moto."""

import json

import dagster as dg
import kubernetes_validate
import psycopg2
import pytest

from ml_platform.compute.auto_memory import ESCALATIONS_KEY, MEMORY_KEY, MEMORY_REASON_KEY
from ml_platform.compute.kubernetes import NODE_POOL_LABEL
from ml_platform.compute.step_metrics import PEAK_MEMORY_KEY
from tests.compute.helpers import reconstructable_job, step_failures

pytestmark = pytest.mark.timeout(300)  # two step containers in a row on a loaded 2-core machine

SAGEMAKER_OOM = "ClientError: Please use an instance type with more memory, or reduce the size of job data processed on an instance."


AUTO_ASSETS = ("auto_k8s", "auto_large_k8s", "hungry_k8s", "auto_sagemaker")


@pytest.fixture(autouse=True)
def no_history_from_other_tests(k8s_instance, postgres):
    """The PostgreSQL instance is shared by the session: each test starts with no recorded peak of
    its assets. (Dagster's wipe only marks an asset key wiped; its events stay in the event log.)"""
    keys = [dg.AssetKey(a).to_string() for a in AUTO_ASSETS]
    connection = psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.username, dbname=postgres.db_name)
    with connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM event_logs WHERE asset_key = ANY(%s)", (keys,))
    connection.close()


def inject_history(instance: dg.DagsterInstance, asset: str, peaks_mib: list[float]) -> None:
    for peak in peaks_mib:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, metadata={PEAK_MEMORY_KEY: float(peak)}))


def run(instance, *assets: str, raise_on_error=True):
    job = reconstructable_job("auto_defs")
    return dg.execute_job(job, instance=instance, asset_selection=[dg.AssetKey(a) for a in assets], raise_on_error=raise_on_error)


def pods_by_step(controller) -> dict[str, list]:
    """Each step's Job manifests in launch order, validated strictly against the Kubernetes schema."""
    found: dict[str, list] = {}
    for job in controller.wait_until_finished().values():
        kubernetes_validate.validate(job.manifest, "1.32", strict=True)
        step = job.manifest["spec"]["template"]["metadata"]["labels"]["dagster/op"]
        found.setdefault(step, []).append(job)
    return found


def container(job) -> dict:
    return job.manifest["spec"]["template"]["spec"]["containers"][0]


def engine_messages(instance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    return [r.event_log_entry.dagster_event.message for r in records]


def test_request_follows_p95_of_recorded_peaks_and_the_node_pool_follows_the_size(k8s_instance, kube, sagemaker, monkeypatch):
    controller, _ = kube
    inject_history(k8s_instance, "auto_k8s", [300, 310, 320, 330, 900])  # p95 900 MiB x 1.3 -> capped at max 1Gi
    inject_history(k8s_instance, "auto_large_k8s", [1500] * 13 + [2100])  # p95 2.1 GiB x 1.3 -> 2816Mi

    reads = []
    storage = k8s_instance.event_log_storage
    original = storage.get_event_records
    monkeypatch.setattr(storage, "get_event_records", lambda *a, **k: reads.append(a) or original(*a, **k))
    result = run(k8s_instance, "auto_k8s", "auto_large_k8s", raise_on_error=False)

    assert result.success, step_failures(k8s_instance, result.run_id)
    assert len(reads) == 1  # one batched read sized both steps of the run
    pods = pods_by_step(controller)
    small = container(pods["auto_k8s"][0])["resources"]
    assert small["requests"]["memory"] == small["limits"]["memory"] == "1Gi" and small["requests"]["cpu"] == "500m"

    large_job = pods["auto_large_k8s"][0]
    resources = container(large_job)["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "2816Mi"
    assert resources["requests"]["cpu"] == "4"  # CPU follows the declared profile ('large')
    pod = large_job.manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {NODE_POOL_LABEL: "standard"} and not pod.get("tolerations")  # off the highmem nodes

    messages = engine_messages(k8s_instance, result.run_id)
    assert "Memory for step auto_large_k8s: 2816Mi on node pool standard (p95 2.1 GiB over 14 runs × 1.3)" in messages
    metadata = k8s_instance.get_latest_materialization_event(dg.AssetKey("auto_large_k8s")).asset_materialization.metadata
    assert metadata[MEMORY_KEY].value == "2816Mi" and metadata[MEMORY_REASON_KEY].value == "p95 2.1 GiB over 14 runs × 1.3"
    small_reason = k8s_instance.get_latest_materialization_event(dg.AssetKey("auto_k8s")).asset_materialization.metadata
    assert "capped at the maximum 1Gi" in small_reason[MEMORY_REASON_KEY].value


def test_without_enough_history_the_declared_profile_applies(k8s_instance, kube, sagemaker):
    controller, _ = kube
    inject_history(k8s_instance, "auto_large_k8s", [1500, 1600])  # fewer than min_runs (5)
    assert run(k8s_instance, "auto_large_k8s").success

    (job,) = pods_by_step(controller)["auto_large_k8s"]
    assert container(job)["resources"]["requests"]["memory"] == "16Gi"
    assert job.manifest["spec"]["template"]["spec"]["nodeSelector"] == {NODE_POOL_LABEL: "highmem"}
    reason = k8s_instance.get_latest_materialization_event(dg.AssetKey("auto_large_k8s")).asset_materialization.metadata
    assert reason[MEMORY_REASON_KEY].value == "declared profile 'large' (16Gi): 2 of 5 runs with recorded peaks"


def test_oom_killed_pod_is_relaunched_one_size_up_without_using_the_retry_budget(k8s_instance, kube, sagemaker):
    controller, _ = kube
    inject_history(k8s_instance, "hungry_k8s", [300] * 5)  # p95 300 MiB x 1.3 -> 512Mi; the step needs more
    result = run(k8s_instance, "hungry_k8s", raise_on_error=False)

    assert result.success, step_failures(k8s_instance, result.run_id)
    first, second = pods_by_step(controller)["hungry_k8s"]
    assert first.oom_killed and first.exit_code != 0 and not second.oom_killed and second.exit_code == 0
    assert [container(j)["resources"]["limits"]["memory"] for j in (first, second)] == ["512Mi", "768Mi"]
    assert second.name == first.name + "-i1"

    events = k8s_instance.get_records_for_run(result.run_id).records
    types = [r.event_log_entry.dagster_event.event_type for r in events if r.event_log_entry.dagster_event]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in types and dg.DagsterEventType.STEP_FAILURE not in types
    assert any("Infrastructure retry (oom) of step hungry_k8s" in m and "OOMKilled (exit code 137)" in m
               for m in engine_messages(k8s_instance, result.run_id))
    metadata = k8s_instance.get_latest_materialization_event(dg.AssetKey("hungry_k8s")).asset_materialization.metadata
    assert metadata[MEMORY_KEY].value == "768Mi" and metadata[ESCALATIONS_KEY].value == 1
    assert "oom: 512Mi -> 768Mi" in metadata[MEMORY_REASON_KEY].value


def test_sagemaker_memory_failure_relaunches_on_the_next_instance_size(k8s_instance, kube, sagemaker):
    sagemaker.plans["auto_sagemaker"] = [("fail", SAGEMAKER_OOM)]  # the first job only
    result = run(k8s_instance, "auto_sagemaker")

    assert result.success, step_failures(k8s_instance, result.run_id)
    jobs = sorted(sagemaker.wait_until_finished().values(), key=lambda j: j.name)
    assert [j.request["ProcessingResources"]["ClusterConfig"]["InstanceType"] for j in jobs] == ["ml.m5.xlarge", "ml.m5.2xlarge"]
    assert [j.statuses[-1] for j in jobs] == ["Failed", "Completed"]
    assert all(len(v) <= 256 for j in jobs for v in j.request["Environment"].values())
    metadata = k8s_instance.get_latest_materialization_event(dg.AssetKey("auto_sagemaker")).asset_materialization.metadata
    assert metadata[MEMORY_KEY].value == "32Gi" and metadata[ESCALATIONS_KEY].value == 1
    assert json.loads(jobs[1].request["Environment"]["ML_PLATFORM_MEMORY_DECISION"])[MEMORY_KEY] == "32Gi"
