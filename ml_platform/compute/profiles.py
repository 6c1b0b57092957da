"""The compute profile catalog: how big a step is and where it may run.

A prediction table names one profile; the platform turns it into op tags that the
executor routes (see ``ml_platform.compute``). Add a profile here, not in an asset.
"""

from dataclasses import dataclass
from datetime import timedelta

# Tag keys the executor and sensors read back from each step / asset.
PROFILE_TAG = "ml_platform/compute"
BACKEND_TAG = "ml_platform/backend"

KUBERNETES = "kubernetes"
SAGEMAKER = "sagemaker"


@dataclass(frozen=True)
class ComputeProfile:
    name: str
    backend: str  # KUBERNETES or SAGEMAKER; locally every step runs in-process whatever this says
    cpu: str
    memory: str
    gpu: int = 0
    ephemeral_storage: str = "1Gi"
    node_pool: str = "standard"
    evictable: bool = True
    max_runtime: timedelta = timedelta(hours=1)
    # SageMaker Processing Job sizing (backend == SAGEMAKER only).
    sagemaker_instance_type: str | None = None
    sagemaker_instance_count: int = 1
    sagemaker_volume_gb: int = 30

    def op_tags(self) -> dict[str, str]:
        """Step tags that carry the profile to whatever executes the step."""
        return {PROFILE_TAG: self.name, BACKEND_TAG: self.backend}


PROFILES: dict[str, ComputeProfile] = {
    p.name: p
    for p in (
        ComputeProfile("small", KUBERNETES, cpu="500m", memory="1Gi", node_pool="standard"),
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
