"""The compute profile catalog: how big a step is and where it may run.

A prediction table names one profile; the platform turns it into op tags that the
executor routes (see ``ml_platform.compute.routing_executor``). Add a profile here, not in an asset.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ml_platform.compute.backends import BACKENDS, backend_of
from ml_platform.compute.backends.base import quantity_bytes
from ml_platform.compute.backends.kubernetes import K8S_CONFIG_TAG, KubernetesOptions
from ml_platform.compute.backends.sagemaker import SageMakerOptions

__all__ = ["BACKEND_TAG", "K8S_CONFIG_TAG", "PROFILES", "PROFILE_TAG", "ComputeProfile", "get_profile", "quantity_bytes"]

# Tag keys the executor and sensors read back from each step / asset.
PROFILE_TAG = "ml_platform/compute"
BACKEND_TAG = "ml_platform/backend"

KUBERNETES, SAGEMAKER, LOCAL = "kubernetes", "sagemaker", "local"  # the backends of the profiles below


@dataclass(frozen=True)
class ComputeProfile:
    name: str
    backend: str  # a name in compute.backends.BACKENDS; in the local environment every step runs locally whatever this says
    cpu: str
    memory: str
    gpu: int = 0
    max_runtime: timedelta = timedelta(hours=1)
    options: Any = None  # the backend's own fields (its ``options_type``; default: that type's defaults)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"compute profile '{self.name}': field 'backend': '{self.backend}' is not one of {tuple(BACKENDS)}")
        backend = BACKENDS[self.backend]
        if self.options is None:
            object.__setattr__(self, "options", backend.options_type())
        if not isinstance(self.options, backend.options_type):
            raise ValueError(f"compute profile '{self.name}': field 'options': the {self.backend} backend takes"
                             f" {backend.options_type.__name__}, got {type(self.options).__name__}")
        for field, problem in backend.problems(self):
            raise ValueError(f"compute profile '{self.name}': field '{field}': {problem}")

    @property
    def memory_bytes(self) -> int:
        return quantity_bytes(self.memory)

    def op_tags(self) -> dict[str, str]:
        """Step tags that carry the profile to whatever executes the step."""
        return {PROFILE_TAG: self.name, BACKEND_TAG: self.backend, **backend_of(self).op_tags(self)}


PROFILES: dict[str, ComputeProfile] = {
    p.name: p
    for p in (
        ComputeProfile("light", LOCAL, cpu="250m", memory="512Mi", max_runtime=timedelta(minutes=30)),
        ComputeProfile("small", KUBERNETES, cpu="500m", memory="1Gi", options=KubernetesOptions(node_pool="standard")),
        ComputeProfile("small_spot", KUBERNETES, cpu="500m", memory="1Gi", options=KubernetesOptions(node_pool="standard", interruptible=True)),
        ComputeProfile(
            "large", KUBERNETES, cpu="4", memory="16Gi", max_runtime=timedelta(hours=3),
            options=KubernetesOptions(ephemeral_storage="20Gi", node_pool="highmem"),
        ),
        ComputeProfile(
            "gpu", KUBERNETES, cpu="8", memory="32Gi", gpu=1, max_runtime=timedelta(hours=6),
            options=KubernetesOptions(ephemeral_storage="50Gi", node_pool="gpu", evictable=False),
        ),
        ComputeProfile(
            "training", KUBERNETES, cpu="16", memory="64Gi", max_runtime=timedelta(hours=8),
            options=KubernetesOptions(ephemeral_storage="100Gi", node_pool="highmem", evictable=False),
        ),
        ComputeProfile(
            "sagemaker_training", SAGEMAKER, cpu="4", memory="16Gi", max_runtime=timedelta(hours=4),
            options=SageMakerOptions(instance_type="ml.m5.xlarge", volume_gb=50),
        ),
    )
}


def get_profile(name: str) -> ComputeProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown compute profile '{name}' (known: {', '.join(PROFILES)})") from None
