"""Automatic memory through the real step handlers: dagster-k8s against kmock, SageMaker against moto."""

import json

import dagster as dg
import kubernetes_validate
import psycopg2
import pytest

from ml_platform.compute.auto_memory import ESCALATIONS_KEY, MEMORY_KEY, MEMORY_REASON_KEY
from ml_platform.compute.backends.kubernetes import NODE_POOL_LABEL
from ml_platform.compute.cost_report import cost_report
from ml_platform.compute.pricing import COST_KEY, COST_RATE_KEY
from ml_platform.compute.step_usage import (
    DURATION_KEY,
    OOM_KILLED,
    OUTCOME_KEY,
    PEAK_MEMORY_KEY,
    REQUESTED_MEMORY_KEY,
    STARTUP_KEY,
    SUCCEEDED,
)
from ml_platform.declaration import declarations
from tests.compute import step_location
from tests.compute.helpers import attempts, reconstructable_job, step_failures
from tests.compute.step_location import SPIKE_TAG

pytestmark = pytest.mark.timeout(300)  # two step containers in a row on a loaded 2-core machine

SAGEMAKER_OOM = "ClientError: Please use an instance type with more memory, or reduce the size of job data processed on an instance."


AUTO_ASSETS = ("auto_k8s", "auto_large_k8s", "hungry_k8s", "auto_sagemaker", "spiky_k8s", "capped_k8s")


@pytest.fixture(autouse=True)
def no_history_from_other_tests(k8s_instance, postgres):
    """The PostgreSQL instance is shared by the session: each test starts with no recorded peak of
    its assets. (Dagster's wipe only marks an asset key wiped; its events stay in the event log.)"""
    keys = [dg.AssetKey(a).to_string() for a in AUTO_ASSETS]
    connection = psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.username, dbname=postgres.db_name)
    with connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM event_logs WHERE asset_key = ANY(%s)", (keys,))
    connection.close()


def inject_history(instance: dg.DagsterInstance, asset: str, peaks_mib: list[float], memory: str = "1Gi") -> None:
    """Earlier successful attempts of the asset, as its steps record them (step_usage)."""
    for peak in peaks_mib:
        metadata = {PEAK_MEMORY_KEY: float(peak), OUTCOME_KEY: SUCCEEDED, REQUESTED_MEMORY_KEY: memory, DURATION_KEY: 1.0}
        instance.report_runless_asset_event(dg.AssetObservation(asset, metadata=metadata))


def run(instance, *assets: str, raise_on_error=True, tags=None):
    job = reconstructable_job("auto_defs")
    return dg.execute_job(job, instance=instance, asset_selection=[dg.AssetKey(a) for a in assets], raise_on_error=raise_on_error,
                          tags=tags)


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

    # Both attempts are priced: the killed one (recorded by the launcher) and the one that succeeded.
    killed, succeeded = attempts(k8s_instance, "hungry_k8s", result.run_id)
    assert (killed[OUTCOME_KEY], succeeded[OUTCOME_KEY]) == (OOM_KILLED, SUCCEEDED)
    assert (killed[REQUESTED_MEMORY_KEY], succeeded[REQUESTED_MEMORY_KEY]) == ("512Mi", "768Mi")
    assert killed[PEAK_MEMORY_KEY] == 512.0 and succeeded[PEAK_MEMORY_KEY] > 400  # killed at its limit; the whole step's peak
    for attempt in (killed, succeeded):
        seconds = attempt[DURATION_KEY] + attempt[STARTUP_KEY]
        assert seconds > 0 and attempt[COST_KEY] == round(attempt[COST_RATE_KEY] * seconds / 3600, 6) > 0
    assert killed[COST_RATE_KEY] < succeeded[COST_RATE_KEY]  # 512Mi is cheaper per hour than 768Mi
    declared = declarations(step_location.auto_defs.resolve_asset_graph())
    report = cost_report(k8s_instance, declared, days=1)
    assert report.attempts["hungry_k8s"] == 2 and report.runs["hungry_k8s"] == 1
    assert report.total("hungry_k8s") == pytest.approx(killed[COST_KEY] + succeeded[COST_KEY])


@pytest.mark.timeout(600)  # 8 runs, each a step pod: ~1 min on a quiet machine, 3 on a loaded one
def test_a_step_is_oom_killed_at_most_once_for_the_same_need_over_8_days(k8s_instance, kube, sagemaker):
    """25 earlier days of ~300 MiB (learned size 512Mi); then 8 daily runs, two of them (days 1 and
    8) with data that needs ~400 MiB more. Day 1 is OOM-killed at 512Mi and relaunched at 768Mi;
    day 8's need is the same, and its p95 (one large peak in 30) alone would say 512Mi again: the
    learned kill keeps it at 768Mi."""
    controller, _ = kube
    inject_history(k8s_instance, "spiky_k8s", [300] * 25, memory="512Mi")
    sizes = []
    for day in range(1, 9):
        result = run(k8s_instance, "spiky_k8s", raise_on_error=False, tags={SPIKE_TAG: "1"} if day in (1, 8) else {})
        assert result.success, (day, step_failures(k8s_instance, result.run_id))
        sizes.append([a[REQUESTED_MEMORY_KEY] for a in attempts(k8s_instance, "spiky_k8s", result.run_id)])
    kills = [j for j in controller.wait_until_finished().values() if j.oom_killed]
    assert len(kills) == 1, sizes
    assert sizes[0] == ["512Mi", "768Mi"], sizes
    # days 2-8: the p95 of 30 peaks says 512Mi; the kill says 768Mi (day 8's spike fits: not killed again)
    assert sizes[1:] == [["768Mi"]] * 7, sizes
    reasons = [r.asset_materialization.metadata[MEMORY_REASON_KEY].value
               for r in k8s_instance.fetch_materializations(dg.AssetKey("spiky_k8s"), limit=8).records]
    assert any("OOM-killed at 512Mi 6 run(s) ago: at least 768Mi for 24 more run(s)" in r for r in reasons), reasons


def test_oom_kill_at_the_maximum_names_the_size_the_maximum_and_the_field_to_change(k8s_instance, kube, sagemaker):
    inject_history(k8s_instance, "capped_k8s", [300] * 3)  # p95 300 MiB x 1.3 -> 512Mi, its maximum
    result = run(k8s_instance, "capped_k8s", raise_on_error=False)

    assert not result.success
    failure = step_failures(k8s_instance, result.run_id)["capped_k8s"]
    assert "out of memory: container 'dagster' of pod" in failure and "OOMKilled (exit code 137) at 512Mi" in failure
    assert "the maximum of its automatic memory (512Mi); raise field 'memory.max' (AutoMemory(max=...)) of 'capped_k8s'" in failure


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
