"""A compute profile as dagster-k8s step configuration (the ``dagster-k8s/config`` op tag).

dagster-k8s applies this tag per step in ``K8sStepHandler`` (job-level tags never reach step
pods), so every launch path — UI, schedule, sensor, backfill — gets the profile's pod.

Node pools are expected to carry the label ``NODE_POOL_LABEL=<pool>``; every pool except
``standard`` also carries the taint ``NODE_POOL_LABEL=<pool>:NoSchedule``. A step selects its
own pool and tolerates only its own taint, so a small step can never land on (and pin) a big node.

An *interruptible* profile's step runs on spot capacity unless told otherwise (``capacity``): GKE
Spot nodes carry the label and taint ``cloud.google.com/gke-spot=true`` (``SPOT_LABEL``), which the
pod selects and tolerates. On-demand capacity is every node without that label; the pod then
neither selects nor tolerates it, so it can never land on a spot node. The container learns its
capacity from ``CAPACITY_ENV`` (its cost is priced by it).
"""

from datetime import timedelta
from typing import Any, Protocol

NODE_POOL_LABEL = "ml-platform/node-pool"
UNTAINTED_POOL = "standard"
GPU_RESOURCE = "nvidia.com/gpu"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
JOB_TTL_SECONDS = 24 * 3600  # finished step Jobs (and their pods' logs) stay a day for debugging
RUN_AS_USER = 10001  # the uid of the code-location image (deploy/Dockerfile)
# What one node of each pool can give a pod (allocatable, after system reservations). Automatic
# memory never asks for more, and picks the smallest pool that holds its size. Match your node types.
NODE_POOL_ALLOCATABLE = {"standard": 28 * 2**30, "highmem": 120 * 2**30, "gpu": 80 * 2**30}
MEMORY_POOLS = ("standard", "highmem")  # pools that differ only by node memory, smallest first
SPOT_LABEL = "cloud.google.com/gke-spot"  # GKE's label and taint on Spot VMs (value "true")
SPOT, ON_DEMAND = "spot", "on_demand"
CAPACITY_ENV = "ML_PLATFORM_CAPACITY"
CAPACITY_LABEL = "ml-platform/capacity"
# Where the step container reads its own peak memory (step_usage): the container's cgroup. The routing
# executor adds it to the pod's env at launch, with the launch time.
CGROUP_ENV, CGROUP_DIR = "ML_PLATFORM_CGROUP_DIR", "/sys/fs/cgroup"


class PodSize(Protocol):
    """What a step pod is sized and placed by: a compute profile (``ml_platform.compute.profiles``
    builds its op tags from this module, so this module does not import it back)."""

    name: str
    cpu: str
    memory: str
    gpu: int
    ephemeral_storage: str
    node_pool: str
    evictable: bool
    interruptible: bool
    max_runtime: timedelta


def k8s_step_config(profile: PodSize, capacity: str | None = None) -> dict[str, Any]:
    """The ``dagster-k8s/config`` value for a step of this profile (snake_case, as dagster-k8s reads it).
    ``capacity``: spot or on-demand, for an interruptible profile only (default: spot)."""
    capacity = (capacity or SPOT) if profile.interruptible else None
    spot = capacity == SPOT
    container = {"resources": _resources(profile), "security_context": _container_security()}
    if capacity:
        container["env"] = [{"name": CAPACITY_ENV, "value": capacity}]
    return {
        "container_config": container,
        "pod_spec_config": {
            "node_selector": {NODE_POOL_LABEL: profile.node_pool, **({SPOT_LABEL: "true"} if spot else {})},
            "tolerations": _tolerations(profile) + ([{"key": SPOT_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}] if spot else []),
            "security_context": {
                "run_as_non_root": True,
                "run_as_user": RUN_AS_USER,
                "run_as_group": RUN_AS_USER,
                "fs_group": RUN_AS_USER,
                "seccomp_profile": {"type": "RuntimeDefault"},
            },
        },
        "pod_template_spec_metadata": {
            "labels": {"ml-platform/compute": profile.name, **({CAPACITY_LABEL: capacity.replace("_", "-")} if capacity else {})},
            **({"annotations": {SAFE_TO_EVICT: "false"}} if not profile.evictable else {}),
        },
        "job_spec_config": {
            "backoff_limit": 0,  # retries belong to Dagster's retry policy, not to the Job
            "ttl_seconds_after_finished": JOB_TTL_SECONDS,
            "active_deadline_seconds": int(profile.max_runtime.total_seconds()),
        },
    }


def pool_for(profile: PodSize, memory_bytes: int) -> str:
    """The pool of a step sized to ``memory_bytes``: GPU steps keep theirs; others take the smallest
    memory pool that holds them, so a step sized down leaves the big nodes."""
    if profile.gpu or profile.node_pool not in MEMORY_POOLS:
        return profile.node_pool
    return next((pool for pool in MEMORY_POOLS if NODE_POOL_ALLOCATABLE[pool] >= memory_bytes), MEMORY_POOLS[-1])


def _resources(profile: PodSize) -> dict[str, dict[str, str]]:
    # Memory and disk limits equal requests: a step either fits its profile or is OOM-killed,
    # never silently borrows from neighbours. No CPU limit: throttling only slows steps down.
    requests = {"cpu": profile.cpu, "memory": profile.memory, "ephemeral-storage": profile.ephemeral_storage}
    limits = {"memory": profile.memory, "ephemeral-storage": profile.ephemeral_storage}
    if profile.gpu:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(profile.gpu)
    return {"requests": requests, "limits": limits}


def _tolerations(profile: PodSize) -> list[dict[str, str]]:
    tolerations = []
    if profile.node_pool != UNTAINTED_POOL:
        tolerations.append({"key": NODE_POOL_LABEL, "operator": "Equal", "value": profile.node_pool, "effect": "NoSchedule"})
    if profile.gpu:
        tolerations.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    return tolerations


def _container_security() -> dict[str, Any]:
    return {
        "allow_privilege_escalation": False,
        "run_as_non_root": True,
        "capabilities": {"drop": ["ALL"]},
    }
