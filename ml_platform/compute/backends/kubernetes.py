"""The Kubernetes backend: a step is a Job of dagster-k8s's step handler, sized by the compute
profile through the ``dagster-k8s/config`` op tag.

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

The executor's ``kubernetes`` section takes what dagster-k8s's own ``k8s_job_executor`` takes
(``DagsterK8sJobConfig.config_type_job()`` plus ``job_namespace``, ``load_incluster_config`` and
``kubeconfig_file``), every key passed to ``K8sContainerContext`` as that executor does, plus the
pod-start grace periods (``k8s_pod_start``). dagster-k8s is imported only when a run uses the
backend (it imports the Kubernetes client, ~1 s, which no code-location load needs), so the
section is typed at load for the platform's own keys and checked against dagster-k8s's schema
when the run starts.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import dagster as dg

from ml_platform.compute.backends.base import (
    ON_DEMAND,
    SPOT,
    Backend,
    SheetReader,
    StepPrice,
    grown,
    quantity_bytes,
    resource_price,
)
from ml_platform.compute.backends.k8s_pod_start import (
    START_TIMEOUT_SECONDS,
    UNSCHEDULABLE_TIMEOUT_SECONDS,
    PodStartWatch,
)
from ml_platform.compute.infrastructure_retry import OOM, PREEMPTED
from ml_platform.compute.step_usage import CGROUP_DIR, CGROUP_ENV, LAUNCHED_AT_ENV, LAUNCHED_AT_TAG

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
CAPACITY_ENV = "ML_PLATFORM_CAPACITY"
CAPACITY_LABEL = "ml-platform/capacity"
K8S_CONFIG_TAG = "dagster-k8s/config"  # read by dagster-k8s's step handler


@dataclass(frozen=True)
class KubernetesOptions:
    """A Kubernetes profile's own fields (``ComputeProfile.options``)."""

    ephemeral_storage: str = "1Gi"
    node_pool: str = "standard"
    evictable: bool = True
    interruptible: bool = False  # attempts before the last run on spot capacity (``capacity``)


def k8s_step_config(profile, capacity: str | None = None) -> dict[str, Any]:
    """The ``dagster-k8s/config`` value for a step of this profile (snake_case, as dagster-k8s reads it).
    ``capacity``: spot or on-demand, for an interruptible profile only (default: spot)."""
    options: KubernetesOptions = profile.options
    capacity = (capacity or SPOT) if options.interruptible else None
    spot = capacity == SPOT
    container = {"resources": _resources(profile), "security_context": _container_security()}
    if capacity:
        container["env"] = [{"name": CAPACITY_ENV, "value": capacity}]
    return {
        "container_config": container,
        "pod_spec_config": {
            "node_selector": {NODE_POOL_LABEL: options.node_pool, **({SPOT_LABEL: "true"} if spot else {})},
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
            **({"annotations": {SAFE_TO_EVICT: "false"}} if not options.evictable else {}),
        },
        "job_spec_config": {
            "backoff_limit": 0,  # retries belong to Dagster's retry policy, not to the Job
            "ttl_seconds_after_finished": JOB_TTL_SECONDS,
            "active_deadline_seconds": int(profile.max_runtime.total_seconds()),
        },
    }


def pool_for(profile, memory_bytes: int) -> str:
    """The pool of a step sized to ``memory_bytes``: GPU steps keep theirs; others take the smallest
    memory pool that holds them, so a step sized down leaves the big nodes."""
    if profile.gpu or profile.options.node_pool not in MEMORY_POOLS:
        return profile.options.node_pool
    return next((pool for pool in MEMORY_POOLS if NODE_POOL_ALLOCATABLE[pool] >= memory_bytes), MEMORY_POOLS[-1])


def _resources(profile) -> dict[str, dict[str, str]]:
    # Memory and disk limits equal requests: a step either fits its profile or is OOM-killed,
    # never silently borrows from neighbours. No CPU limit: throttling only slows steps down.
    disk = profile.options.ephemeral_storage
    requests = {"cpu": profile.cpu, "memory": profile.memory, "ephemeral-storage": disk}
    limits = {"memory": profile.memory, "ephemeral-storage": disk}
    if profile.gpu:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(profile.gpu)
    return {"requests": requests, "limits": limits}


def _tolerations(profile) -> list[dict[str, str]]:
    tolerations = []
    pool = profile.options.node_pool
    if pool != UNTAINTED_POOL:
        tolerations.append({"key": NODE_POOL_LABEL, "operator": "Equal", "value": pool, "effect": "NoSchedule"})
    if profile.gpu:
        tolerations.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    return tolerations


def _container_security() -> dict[str, Any]:
    return {
        "allow_privilege_escalation": False,
        "run_as_non_root": True,
        "capabilities": {"drop": ["ALL"]},
    }


class NodePoolLadder:
    """Any memory in whole steps, up to what one node of the largest pool can give a pod; the node
    pool follows the memory (``pool_for``)."""

    def problems(self, profile, max_bytes: int, max_text: str | None) -> list[tuple[str, str]]:
        if max_bytes > max(NODE_POOL_ALLOCATABLE.values()):
            return [("memory.max", f"{max_text} exceeds every node pool's allocatable memory")]
        return []

    def ceiling(self, profile, max_bytes: int) -> int:
        return min(max_bytes, max(NODE_POOL_ALLOCATABLE.values()))

    def fit(self, profile, memory_bytes: int) -> int:
        return memory_bytes

    def next(self, profile, current_bytes: int, ceiling_bytes: int) -> int | None:
        return grown(current_bytes, ceiling_bytes)

    def sized(self, profile, memory: str):
        return replace(profile, memory=memory, options=replace(profile.options, node_pool=pool_for(profile, quantity_bytes(memory))))

    def holder(self, profile, memory_bytes: int) -> str:
        return f"node pool {pool_for(profile, memory_bytes)}"


def _names(description: str) -> dg.Field:
    return dg.Field([str], is_required=False, default_value=[], description=description)


# The platform's own keys; dagster-k8s's keys pass through and are checked when a run starts (``_job_config``).
_OWN_CONFIG = {
    "start_timeout_seconds": dg.Field(int, default_value=START_TIMEOUT_SECONDS,
                                      description="A pod whose container cannot start (missing Secret, image pull) this long fails its step."),
    "unschedulable_timeout_seconds": dg.Field(int, default_value=UNSCHEDULABLE_TIMEOUT_SECONDS,
                                              description="A pod no node can take this long fails its step (the autoscaler may add one)."),
}


def k8s_executor_config_schema() -> dict[str, dg.Field]:
    """The section's full schema, as dagster-k8s's ``k8s_job_executor`` builds its own (imports dagster-k8s)."""
    from dagster_k8s.job import DagsterK8sJobConfig

    return {
        **DagsterK8sJobConfig.config_type_job(),
        "job_namespace": dg.Field(dg.Noneable(dg.StringSource), is_required=False, default_value=None),
        "load_incluster_config": dg.Field(dg.Noneable(bool), is_required=False, default_value=None,
                                          description="Default: the K8sRunLauncher's."),
        "kubeconfig_file": dg.Field(dg.Noneable(str), is_required=False, default_value=None,
                                    description="Default: the K8sRunLauncher's (unless in-cluster)."),
        **_OWN_CONFIG,
    }


def _job_config(config: Mapping[str, Any]) -> dict[str, Any]:
    from ml_platform._dagster_internal import processed_config

    return processed_config(k8s_executor_config_schema(), config, "routing executor config 'kubernetes'")


def _handler_factory(config: Mapping[str, Any]) -> Callable:
    if set(config) - set(_OWN_CONFIG):  # dagster-k8s keys given: a bad one fails the run now, not at its first pod
        config = _job_config(config)

    def build(context):
        from dagster_k8s.container_context import K8sContainerContext
        from dagster_k8s.launcher import K8sRunLauncher

        from ml_platform.compute.backends.k8s_step_handler import DiagnosingK8sStepHandler

        launcher = context.instance.run_launcher
        if not isinstance(launcher, K8sRunLauncher):
            raise dg.DagsterInvariantViolationError(
                f"Kubernetes backend: the instance's run launcher is {type(launcher).__name__}; steps on Kubernetes need"
                " dagster_k8s.K8sRunLauncher (see deploy/helm/values.yaml), or leave 'kubernetes' out of real_backends"
            )
        job = _job_config(config)
        in_cluster = job["load_incluster_config"]
        kubeconfig = job["kubeconfig_file"] or (None if in_cluster else launcher.kubeconfig_file)
        return DiagnosingK8sStepHandler(
            image=job.get("job_image"),
            container_context=K8sContainerContext(  # every key, as dagster-k8s's k8s_job_executor passes them
                image_pull_policy=job.get("image_pull_policy"),
                image_pull_secrets=job.get("image_pull_secrets"),
                service_account_name=job.get("service_account_name"),
                env_config_maps=job.get("env_config_maps"),
                env_secrets=job.get("env_secrets"),
                env_vars=job.get("env_vars"),
                volume_mounts=job.get("volume_mounts"),
                volumes=job.get("volumes"),
                labels=job.get("labels"),
                namespace=job.get("job_namespace"),
                resources=job.get("resources"),
                scheduler_name=job.get("scheduler_name"),
                security_context=job.get("security_context"),
            ),
            load_incluster_config=launcher.load_incluster_config if in_cluster is None else in_cluster,
            kubeconfig_file=kubeconfig,
            start_watch=PodStartWatch(job["start_timeout_seconds"], job["unschedulable_timeout_seconds"]),
        )

    return build


@lru_cache(maxsize=None)
def _config_json(profile) -> str:
    # One string per profile, shared by every asset of that profile (profiles are frozen).
    return json.dumps(k8s_step_config(profile), sort_keys=True)


class KubernetesBackend(Backend):
    name, title, remote = "kubernetes", "Kubernetes", True
    options_type = KubernetesOptions
    ladder = NodePoolLadder()
    failure_reasons = (OOM, PREEMPTED)

    def problems(self, profile) -> list[tuple[str, str]]:
        options: KubernetesOptions = profile.options
        if options.interruptible and not options.evictable:
            return [("options.interruptible", "a non-evictable profile cannot run on spot capacity")]
        return []

    def op_tags(self, profile) -> dict[str, str]:
        return {K8S_CONFIG_TAG: _config_json(profile)}

    def interruptible(self, profile) -> bool:
        return profile.options.interruptible

    def sized_tags(self, profile, tags, capacity, env) -> dict[str, str]:
        config = k8s_step_config(profile, capacity)
        if env:
            container = config["container_config"]
            container["env"] = [*container.get("env", []), *({"name": k, "value": v} for k, v in env.items())]
        return {**tags, K8S_CONFIG_TAG: json.dumps(config, sort_keys=True)}

    def describe_size(self, profile) -> str:
        return f"node pool {profile.options.node_pool}"

    def with_launch_time(self, tags, partitions: int) -> dict[str, str]:
        """The pod's env gets the launch time and its cgroup; a ranged run's Job gets a deadline that many times longer."""
        tags = dict(tags)
        if K8S_CONFIG_TAG in tags:
            config = json.loads(tags[K8S_CONFIG_TAG])
            job_spec = config.get("job_spec_config") or {}
            if partitions > 1 and "active_deadline_seconds" in job_spec:
                job_spec["active_deadline_seconds"] *= partitions
            container = config.setdefault("container_config", {})
            container["env"] = [*container.get("env", []), {"name": LAUNCHED_AT_ENV, "value": tags[LAUNCHED_AT_TAG]},
                                {"name": CGROUP_ENV, "value": CGROUP_DIR}]
            tags[K8S_CONFIG_TAG] = json.dumps(config, sort_keys=True)
        return tags

    def parse_prices(self, sheet: SheetReader, section: Any) -> Mapping[str, Any]:
        table = sheet.table(section, self.name)
        return {c: sheet.rates(table.get(c), f"{self.name}.{c}", gpu=True) for c in (ON_DEMAND, SPOT)}

    def price(self, profile, prices, capacity: str) -> StepPrice:
        return resource_price(profile, prices[capacity], f"kubernetes {capacity.replace('_', '-')}", capacity)

    def config_field(self) -> dg.Field:
        return dg.Field(dg.Permissive(_OWN_CONFIG), is_required=False, description=(
            "dagster-k8s's k8s_job_executor keys (job_image, job_namespace, env_vars, env_config_maps, env_secrets,"
            " image_pull_policy, service_account_name, volumes, …), checked when a run starts, plus the pod-start grace periods."))

    def prepare(self, config):
        return _handler_factory(config)

    def infrastructure_failure(self, handler, context):
        return handler.infrastructure_failure(context)

    def attempt_times(self, handler, context):
        return handler.attempt_times(context)


KUBERNETES = KubernetesBackend()
