"""Interruptible profiles through the real step handler against kmock: spot until the final attempt,
and a preempted pod relaunched without using up the asset's retry budget."""

from datetime import datetime, timezone

import dagster as dg
import kubernetes_validate
import pytest

from ml_platform.compute.backends import backend_of
from ml_platform.compute.backends.kubernetes import CAPACITY_ENV, NODE_POOL_LABEL, SPOT_LABEL, KubernetesOptions
from ml_platform.compute.capacity import DeadlineGuard
from ml_platform.compute.pricing import COST_KEY, COST_RATE_KEY, COST_SIZE_KEY
from ml_platform.compute.profiles import PROFILES, ComputeProfile
from ml_platform.compute.step_usage import DURATION_KEY, OUTCOME_KEY, STARTUP_KEY
from ml_platform.declaration import declarations
from ml_platform.definitions import build_definitions
from tests.compute.helpers import attempts, reconstructable_job, step_failures

pytestmark = pytest.mark.timeout(300)

ON_DEMAND_RATE = 0.5 * 0.0316 + 1 * 0.0042  # small_spot at the default sheet's on-demand prices
SPOT_RATES = (0.0077, 0.0010)  # the default sheet's spot vCPU-hour and GiB-hour
SPOT_TOLERATION = {"key": SPOT_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def run(instance, *assets: str):
    job = reconstructable_job("spot_defs")
    return dg.execute_job(job, instance=instance, asset_selection=[dg.AssetKey(a) for a in assets], raise_on_error=False)


def jobs_of(controller, step: str) -> list:
    """The step's Jobs in launch order, each validated strictly against the Kubernetes schema."""
    found = []
    for job in controller.wait_until_finished().values():
        kubernetes_validate.validate(job.manifest, "1.32", strict=True)
        if job.manifest["spec"]["template"]["metadata"]["labels"]["dagster/op"] == step:
            found.append(job)
    return found


def pod_spec(job) -> dict:
    return job.manifest["spec"]["template"]["spec"]


def capacity_env(job) -> str:
    return next(e["value"] for e in pod_spec(job)["containers"][0]["env"] if e["name"] == CAPACITY_ENV)


def event_types(instance, run_id: str) -> list:
    return [r.event_log_entry.dagster_event.event_type for r in instance.get_records_for_run(run_id).records
            if r.event_log_entry.dagster_event]


def engine_messages(instance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    return [r.event_log_entry.dagster_event.message for r in records]


def test_first_attempt_on_spot_and_the_final_attempt_on_demand(k8s_instance, kube, sagemaker):  # sagemaker: the env the step config copies
    controller, _ = kube
    result = run(k8s_instance, "flaky_spot_k8s")

    assert result.success, step_failures(k8s_instance, result.run_id)
    first, final = jobs_of(controller, "flaky_spot_k8s")
    assert pod_spec(first)["nodeSelector"] == {NODE_POOL_LABEL: "standard", SPOT_LABEL: "true"}
    assert SPOT_TOLERATION in pod_spec(first)["tolerations"] and capacity_env(first) == "spot"
    assert pod_spec(final)["nodeSelector"] == {NODE_POOL_LABEL: "standard"}  # no spot node can take it
    assert SPOT_TOLERATION not in (pod_spec(final).get("tolerations") or []) and capacity_env(final) == "on_demand"
    assert event_types(k8s_instance, result.run_id).count(dg.DagsterEventType.STEP_UP_FOR_RETRY) == 1
    messages = engine_messages(k8s_instance, result.run_id)
    assert "Capacity for step flaky_spot_k8s: spot (attempt 1 of 2)" in messages
    assert "Capacity for step flaky_spot_k8s: on-demand (final attempt (2 of 2))" in messages
    # The failed attempt is priced too, at spot prices; the retry at on-demand prices.
    failed, succeeded = attempts(k8s_instance, "flaky_spot_k8s", result.run_id)
    assert (failed[OUTCOME_KEY], succeeded[OUTCOME_KEY]) == ("failed", "succeeded")
    assert failed[COST_RATE_KEY] == 0.5 * SPOT_RATES[0] + SPOT_RATES[1] and succeeded[COST_RATE_KEY] == ON_DEMAND_RATE


def test_a_preempted_pod_is_relaunched_on_demand_without_using_a_retry(k8s_instance, kube, sagemaker):  # sagemaker: the env the step config copies
    controller, _ = kube
    controller.preempt.add("spot_k8s")
    result = run(k8s_instance, "spot_k8s")

    assert result.success, step_failures(k8s_instance, result.run_id)
    preempted, relaunched = jobs_of(controller, "spot_k8s")
    assert preempted.preempted and preempted.exit_code != 0 and relaunched.exit_code == 0
    assert relaunched.name == preempted.name + "-i1"
    assert capacity_env(preempted) == "spot" and capacity_env(relaunched) == "on_demand"
    assert SPOT_LABEL not in pod_spec(relaunched)["nodeSelector"]
    types = event_types(k8s_instance, result.run_id)
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in types and dg.DagsterEventType.STEP_FAILURE not in types
    assert any("Infrastructure retry (preempted) of step spot_k8s: pod " in m and "TerminationByKubelet" in m
               and "on-demand capacity" in m for m in engine_messages(k8s_instance, result.run_id))
    preempted_record, succeeded = attempts(k8s_instance, "spot_k8s", result.run_id)
    assert (preempted_record[OUTCOME_KEY], succeeded[OUTCOME_KEY]) == ("preempted", "succeeded")
    assert succeeded[COST_SIZE_KEY] == "small_spot: 500m vCPU, 1Gi" and succeeded[COST_RATE_KEY] == ON_DEMAND_RATE
    # The preempted pod ran on spot for its wall time (the kubelet's timestamps) and is priced at spot prices.
    assert preempted_record[COST_RATE_KEY] == 0.5 * SPOT_RATES[0] + SPOT_RATES[1] and preempted_record[COST_KEY] > 0


def test_a_deadline_nearer_than_the_p90_duration_sends_the_first_attempt_on_demand(k8s_instance, kube, sagemaker):
    controller, _ = kube
    for _ in range(3):  # each run took 8 days: the weekly deadline is always nearer than that × 1.5
        took = {DURATION_KEY: 8 * 86400.0 - 60, STARTUP_KEY: 60.0, OUTCOME_KEY: "succeeded"}  # start-up counts
        k8s_instance.report_runless_asset_event(dg.AssetObservation("urgent_spot_k8s", metadata=took))
    result = run(k8s_instance, "urgent_spot_k8s")

    assert result.success, step_failures(k8s_instance, result.run_id)
    (job,) = jobs_of(controller, "urgent_spot_k8s")
    assert capacity_env(job) == "on_demand" and pod_spec(job)["nodeSelector"] == {NODE_POOL_LABEL: "standard"}
    assert SPOT_TOLERATION not in (pod_spec(job).get("tolerations") or [])
    assert any(m.startswith("Capacity for step urgent_spot_k8s: on-demand (deadline ") and "under p90 192h00m × 1.5 of 3 runs" in m
               for m in engine_messages(k8s_instance, result.run_id)), "the first attempt, sent on-demand by the deadline"


def test_sagemaker_and_non_evictable_profiles_cannot_be_interruptible():
    # Spot is a Kubernetes option: a SageMaker profile cannot carry it (Processing Jobs have no managed spot).
    with pytest.raises(ValueError, match="field 'options': the sagemaker backend takes SageMakerOptions, got KubernetesOptions"):
        ComputeProfile("spot_job", "sagemaker", cpu="4", memory="16Gi", options=KubernetesOptions(interruptible=True))
    with pytest.raises(ValueError, match="non-evictable profile cannot run on spot"):
        ComputeProfile("spot_training", "kubernetes", cpu="16", memory="64Gi", options=KubernetesOptions(evictable=False, interruptible=True))
    assert not any(backend_of(p).interruptible(p) for p in PROFILES.values() if p.backend != "kubernetes" or not p.options.evictable)


def test_a_partition_past_its_own_deadline_goes_on_demand(tmp_path):
    """The switch judges the run's partition by that partition's deadline, not the next one after now:
    yesterday's late partition has no time to lose to a preemption."""
    declared = {k.to_user_string(): d for k, d in declarations(build_definitions("local").resolve_asset_graph()).items()}
    related = declared["related_articles"]  # daily, due 06:00 Asia/Tokyo
    now = datetime(2026, 3, 10, 3, 0, tzinfo=timezone.utc)  # 12:00 in Tokyo
    guard = DeadlineGuard()
    assert guard.near(None, "related_articles", related, "2026-03-10", now) == "partition 2026-03-10 is past its deadline 2026-03-10 06:00 JST"
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:  # no recorded durations: tomorrow's partition may use spot
        assert guard.near(instance, "related_articles", related, "2026-03-11", now) is None
