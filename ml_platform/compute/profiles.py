"""The compute profile catalog: how big a step is and where it may run.

A prediction table names one profile; the platform turns it into op tags that the
executor routes (see ``ml_platform.compute.routing_executor``). Add a profile here, not in an asset.
"""

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from ml_platform.compute.kubernetes import k8s_step_config

# Tag keys the executor and sensors read back from each step / asset.
PROFILE_TAG = "ml_platform/compute"
BACKEND_TAG = "ml_platform/backend"
K8S_CONFIG_TAG = "dagster-k8s/config"  # read by dagster-k8s's step handler

KUBERNETES = "kubernetes"
SAGEMAKER = "sagemaker"
LOCAL = "local"  # a subprocess next to the run worker: for steps too small to be worth a pod
BACKENDS = (KUBERNETES, SAGEMAKER, LOCAL)


@dataclass(frozen=True)
class ComputeProfile:
    name: str
    backend: str  # one of BACKENDS; in the local environment every step runs locally whatever this says
    cpu: str
    memory: str
    gpu: int = 0
    ephemeral_storage: str = "1Gi"
    node_pool: str = "standard"
    evictable: bool = True
    interruptible: bool = False  # Kubernetes only: attempts before the last run on spot capacity
    max_runtime: timedelta = timedelta(hours=1)
    # SageMaker Processing Job sizing (backend == SAGEMAKER only).
    sagemaker_instance_type: str | None = None
    sagemaker_instance_count: int = 1
    sagemaker_volume_gb: int = 30

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"compute profile '{self.name}': field 'backend': '{self.backend}' is not one of {BACKENDS}")
        if self.interruptible and self.backend != KUBERNETES:
            raise ValueError(f"compute profile '{self.name}': field 'interruptible': only Kubernetes has spot capacity"
                             " (SageMaker Processing Jobs have no managed spot)")
        if self.interruptible and not self.evictable:
            raise ValueError(f"compute profile '{self.name}': field 'interruptible': a non-evictable profile cannot run on spot capacity")
        if self.backend == SAGEMAKER and not self.sagemaker_instance_type:
            raise ValueError(f"compute profile '{self.name}': field 'sagemaker_instance_type': required for the sagemaker backend")

    @property
    def memory_bytes(self) -> int:
        return quantity_bytes(self.memory)

    def op_tags(self) -> dict[str, str]:
        """Step tags that carry the profile to whatever executes the step."""
        tags = {PROFILE_TAG: self.name, BACKEND_TAG: self.backend}
        if self.backend == KUBERNETES:
            tags[K8S_CONFIG_TAG] = _k8s_config_json(self)
        return tags


@lru_cache(maxsize=None)
def _k8s_config_json(profile: ComputeProfile) -> str:
    # One string per profile, shared by every asset of that profile (profiles are frozen).
    return json.dumps(k8s_step_config(profile), sort_keys=True)


_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ('512Mi', '16Gi', '1000000') in bytes."""
    for suffix, factor in _BINARY_SUFFIXES.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


PROFILES: dict[str, ComputeProfile] = {
    p.name: p
    for p in (
        ComputeProfile("light", LOCAL, cpu="250m", memory="512Mi", max_runtime=timedelta(minutes=30)),
        ComputeProfile("small", KUBERNETES, cpu="500m", memory="1Gi", node_pool="standard"),
        ComputeProfile("small_spot", KUBERNETES, cpu="500m", memory="1Gi", node_pool="standard", interruptible=True),
        ComputeProfile(
            "large", KUBERNETES, cpu="4", memory="16Gi", ephemeral_storage="20Gi",
            node_pool="highmem", max_runtime=timedelta(hours=3),
        ),
        ComputeProfile(
            "gpu", KUBERNETES, cpu="8", memory="32Gi", gpu=1, ephemeral_storage="50Gi",
            node_pool="gpu", evictable=False, max_runtime=timedelta(hours=6),
        ),
        ComputeProfile(
            "training", KUBERNETES, cpu="16", memory="64Gi", ephemeral_storage="100Gi",
            node_pool="highmem", evictable=False, max_runtime=timedelta(hours=8),
        ),
        ComputeProfile(
            "sagemaker_training", SAGEMAKER, cpu="4", memory="16Gi",
            evictable=False, max_runtime=timedelta(hours=4),
            sagemaker_instance_type="ml.m5.xlarge", sagemaker_volume_gb=50,
        ),
    )
}


def get_profile(name: str) -> ComputeProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown compute profile '{name}' (known: {', '.join(PROFILES)})") from None
