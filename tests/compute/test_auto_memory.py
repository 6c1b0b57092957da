"""Automatic memory's arithmetic: p95 × margin in 256 MiB steps, bounds, pools, sizes up, declaration errors."""

from datetime import timedelta

import pytest

from ml_platform.compute.auto_memory import AutoMemory, decide, learned_floor, next_size, sized_profile
from ml_platform.compute.infrastructure_retry import OOM, PREEMPTED, InfrastructureRetries, attempt_suffix
from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import SLO, DeclarationError, Model

MIB, GIB = 2**20, 2**30


def test_size_is_p95_times_margin_rounded_up_to_256_mib():
    decision = decide(AutoMemory(), PROFILES["large"], [1500] * 13 + [2100])
    assert decision.memory == "2816Mi"  # 2100 MiB × 1.3 = 2730 MiB -> 11 × 256 MiB
    assert decision.reason == "p95 2.1 GiB over 14 runs × 1.3" and decision.runs == 14


def test_only_the_most_recent_history_counts():
    decision = decide(AutoMemory(history=5, min_runs=5), PROFILES["large"], [1000] * 5 + [9000] * 20)  # newest first
    assert decision.memory == "1536Mi" and decision.runs == 5  # 1300 MiB -> 6 × 256 MiB


def test_bounds_raise_to_the_minimum_and_cap_at_the_maximum():
    assert decide(AutoMemory(min="1Gi"), PROFILES["large"], [100] * 10).memory == "1Gi"
    capped = decide(AutoMemory(), PROFILES["small"], [2000] * 10)  # max defaults to the profile's 1Gi
    assert capped.memory == "1Gi" and "capped at the maximum 1Gi" in capped.reason
    assert decide(AutoMemory(max="200Gi"), PROFILES["training"], [150_000] * 10).memory == "120Gi"  # largest node pool


def test_too_little_history_keeps_the_declared_profile_and_its_pool():
    decision = decide(AutoMemory(), PROFILES["large"], [1000] * 4)
    assert decision.declared and decision.memory == "16Gi"
    assert sized_profile(PROFILES["large"], decision) == PROFILES["large"]


def test_node_pool_follows_the_chosen_size_but_gpu_steps_keep_their_pool():
    small = sized_profile(PROFILES["large"], decide(AutoMemory(), PROFILES["large"], [2000] * 10))
    assert (small.options.node_pool, small.cpu, small.options.evictable) == ("standard", "4", True)
    big = sized_profile(PROFILES["training"], decide(AutoMemory(), PROFILES["training"], [40_000] * 10))
    assert big.options.node_pool == "highmem" and not big.options.evictable
    assert sized_profile(PROFILES["gpu"], decide(AutoMemory(), PROFILES["gpu"], [2000] * 10)).options.node_pool == "gpu"


def test_one_size_up_grows_by_half_within_the_maximum():
    auto = AutoMemory(max="2Gi")
    assert next_size(auto, PROFILES["small"], 512 * MIB) == 768 * MIB
    assert next_size(auto, PROFILES["small"], 1536 * MIB) == 2 * GIB
    assert next_size(auto, PROFILES["small"], 2 * GIB) is None


def test_sagemaker_sizes_are_instance_types_of_the_same_family():
    auto = AutoMemory(max="64Gi")
    decision = decide(auto, PROFILES["sagemaker_training"], [20_000] * 10)
    assert sized_profile(PROFILES["sagemaker_training"], decision).options.instance_type == "ml.m5.2xlarge"
    assert next_size(auto, PROFILES["sagemaker_training"], 32 * GIB) == 64 * GIB
    assert next_size(auto, PROFILES["sagemaker_training"], 64 * GIB) is None  # ml.m5.12xlarge exceeds the maximum


def test_infrastructure_retries_are_counted_per_step_and_reason_within_limits():
    retries = InfrastructureRetries({OOM: 1, PREEMPTED: 2})
    assert retries.allows("a", OOM) and retries.record("a", OOM) == 1
    assert not retries.allows("a", OOM) and retries.allows("a", PREEMPTED) and retries.allows("b", OOM)
    assert retries.record("a", PREEMPTED) == 2 and attempt_suffix({"ml_platform/infrastructure_attempt": "2"}) == "-i2"
    assert attempt_suffix({}) == ""


@pytest.mark.parametrize(
    ("compute", "memory", "message"),
    [
        ("small", AutoMemory(min="2Gi"), "field 'memory.min': 2Gi is more than the maximum 1Gi"),
        ("small", AutoMemory(max="lots"), "field 'memory.max': 'lots' is not a memory quantity"),
        ("light", AutoMemory(), "field 'memory': automatic memory needs a Kubernetes or SageMaker profile"),
        ("small", AutoMemory(min_runs=10, history=5), "field 'memory': need 1 <= min_runs <= history"),
    ],
)
def test_bad_automatic_memory_names_asset_and_field(compute, memory, message):
    with pytest.raises(DeclarationError, match=f"model 'm': {message}"):
        Model(name="m", product="p", owner="team:p", slo=SLO("0 6 * * 1", window=timedelta(days=7)), compute=compute, memory=memory)


def test_declaration_round_trips_through_asset_metadata():
    model = Model(name="m", product="p", owner="team:p", slo=SLO("0 6 * * 1", window=timedelta(days=7)),
                  compute="large", memory=AutoMemory(min="1Gi", max="32Gi"))
    assert Model.from_dict(model.to_dict()) == model
    assert AutoMemory.from_tags(model.asset_kwargs()["op_tags"]) == model.memory


def test_an_oom_kill_holds_the_size_that_succeeded_after_it_for_history_runs():
    auto, profile = AutoMemory(min="256Mi", max="4Gi", history=10), PROFILES["small"]
    mib = 2**20
    peaks = [300.0] * 10  # the p95 alone says 512Mi
    # newest first: 3 successes at 768Mi after a kill at 512Mi
    attempts = [("succeeded", 768 * mib)] * 3 + [("oom_killed", 512 * mib)] + [("succeeded", 512 * mib)] * 6
    floor = learned_floor(auto, profile, attempts)
    assert (floor.killed_bytes, floor.floor_bytes, floor.runs_since, floor.runs_left) == (512 * mib, 768 * mib, 3, 7)
    decision = decide(auto, profile, peaks, floor)
    assert decision.memory == "768Mi" and decision.reason.endswith("OOM-killed at 512Mi 3 run(s) ago: at least 768Mi for 7 more run(s)")
    # Before any success: one size up from the kill; after `history` successes the kill is forgotten.
    assert learned_floor(auto, profile, [("oom_killed", 512 * mib)]).floor_bytes == 768 * mib
    assert learned_floor(auto, profile, [("succeeded", 768 * mib)] * 10 + [("oom_killed", 512 * mib)]) is None
    assert decide(auto, profile, [900.0] * 10, floor).memory == "1280Mi"  # a larger need than the floor wins
