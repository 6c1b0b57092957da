"""A small code location for executor tests: one asset per backend, loaded by step workers too.

Steps run in other processes (``dagster api execute_step``), which re-import this module, so
tests load the module-level ``local_defs`` / ``cloud_defs`` as reconstructable repositories.
Cloud steps take no inputs: their containers share no disk with the run worker (outputs land in
the container's own storage), only the instance database.
"""

import time
from datetime import timedelta

import dagster as dg

from ml_platform.compute.routing_executor import routing_executor
from ml_platform.compute.step_metrics import with_step_metrics
from ml_platform.declaration import MODEL_IO_MANAGER_KEY, SLO, AutoMemory, Model

WEEKLY = SLO("0 6 * * 1", window=timedelta(days=7))
LIGHT = Model(name="light_counts", product="compute_test", owner="team:platform", slo=WEEKLY, compute="light")
ON_K8S = Model(name="k8s_scores", product="compute_test", owner="team:platform", slo=WEEKLY, compute="small", retries=0)
ON_SAGEMAKER = Model(name="sagemaker_model", product="compute_test", owner="team:platform", slo=WEEKLY,
                     compute="sagemaker_training", retries=0)


@dg.asset(**LIGHT.asset_kwargs())
def light_counts() -> list[int]:
    return list(range(10))


@dg.asset(**ON_K8S.asset_kwargs())
def k8s_scores() -> list[float]:
    return [c / 10 for c in range(10)]


@dg.asset(**ON_SAGEMAKER.asset_kwargs())
def sagemaker_model() -> dict:
    return {"weights": [c * 2 for c in range(10)]}


STEP_SLEEP_SECONDS = 120  # far longer than a test: these steps end only when terminated


@dg.asset(**Model(name="slow_local", product="compute_test", owner="team:platform", slo=WEEKLY, compute="light").asset_kwargs())
def slow_local() -> int:
    time.sleep(STEP_SLEEP_SECONDS)
    return 1


@dg.asset(**Model(name="slow_k8s", product="compute_test", owner="team:platform", slo=WEEKLY, compute="small", retries=0).asset_kwargs())
def slow_k8s() -> int:
    time.sleep(STEP_SLEEP_SECONDS)
    return 1


@dg.asset(**Model(name="slow_sagemaker", product="compute_test", owner="team:platform", slo=WEEKLY,
                  compute="sagemaker_training", retries=0).asset_kwargs())
def slow_sagemaker() -> int:
    time.sleep(STEP_SLEEP_SECONDS)
    return 1


HOG_MIB = 300


@dg.asset(**Model(name="memory_hog", product="compute_test", owner="team:platform", slo=WEEKLY, compute="light").asset_kwargs())
def memory_hog() -> int:
    held = b"\x01" * (HOG_MIB << 20)  # filled, so every page is resident
    return len(held) >> 20


@dg.asset(**Model(name="after_hog", product="compute_test", owner="team:platform", slo=WEEKLY, compute="light").asset_kwargs())
def after_hog(memory_hog: int) -> int:
    return memory_hog + 1


def _definitions(real_backends: list[str], assets=(light_counts, k8s_scores, sagemaker_model), **kubernetes) -> dg.Definitions:
    return dg.Definitions(
        assets=with_step_metrics(list(assets)),
        resources={MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager()},  # under the instance's storage dir
        executor=routing_executor.configured(
            {
                "real_backends": real_backends,
                "check_step_health_interval_seconds": 1,
                "sleep_seconds": 0.1,
                # Plaintext instance settings the image's dagster.yaml reads; the password is a secret. SageMaker
                # jobs get the run worker's (this test process's) step settings by default (step_settings.py).
                "kubernetes": {"env_config_maps": ["ml-platform-step-config"], "env_secrets": ["ml-platform-step-secrets"], **kubernetes},
            },
            name="test_routing",
        ),
    )


# Automatic memory: sized from the peaks a test injects; the hungry step outgrows its first size.
AUTO = AutoMemory(min="256Mi", max="1Gi", min_runs=3)
HUNGRY_MIB = 400  # on top of the step worker's own resident memory


def _auto(name: str, compute: str, memory: AutoMemory) -> dict:
    return Model(name=name, product="compute_test", owner="team:platform", slo=WEEKLY, compute=compute,
                 memory=memory, retries=1).asset_kwargs()


@dg.asset(**_auto("auto_k8s", "small", AUTO))
def auto_k8s() -> int:
    return 1


@dg.asset(**_auto("auto_large_k8s", "large", AutoMemory(min="1Gi")))
def auto_large_k8s() -> int:
    return 2


@dg.asset(**_auto("hungry_k8s", "small", AUTO))
def hungry_k8s() -> int:
    held = b"\x01" * (HUNGRY_MIB * 2**20)  # written, so resident
    time.sleep(2)  # long enough for the kubelet (fixture) to see it
    return len(held)


@dg.asset(**_auto("auto_sagemaker", "sagemaker_training", AutoMemory(max="64Gi")))
def auto_sagemaker() -> int:
    return 3


# Interruptible: on spot capacity until its final attempt. It fails its first attempt on purpose.
SPOT_SECONDS = 4  # long enough to be preempted mid-way (kubernetes_cluster.PREEMPT_AFTER_SECONDS)


def _spot(name: str) -> dict:
    return Model(name=name, product="compute_test", owner="team:platform", slo=WEEKLY, compute="small_spot", retries=1,
                 retry_delay=timedelta(0)).asset_kwargs()


@dg.asset(**_spot("spot_k8s"))
def spot_k8s() -> int:
    time.sleep(SPOT_SECONDS)
    return 4


@dg.asset(**_spot("urgent_spot_k8s"))
def urgent_spot_k8s() -> int:
    return 6


@dg.asset(**_spot("flaky_spot_k8s"))
def flaky_spot_k8s(context: dg.AssetExecutionContext) -> int:
    if context.retry_number == 0:
        raise RuntimeError("the first attempt fails (a bad input, say): the retry is the final attempt")
    return 5


local_defs = _definitions([])
cloud_defs = _definitions(["kubernetes", "sagemaker"])
memory_defs = _definitions([], assets=(memory_hog, after_hog))
slow_cloud_defs = _definitions(["kubernetes", "sagemaker"], assets=(slow_local, slow_k8s, slow_sagemaker))
auto_defs = _definitions(["kubernetes", "sagemaker"], assets=(auto_k8s, auto_large_k8s, hungry_k8s, auto_sagemaker))
# Pods that cannot start: short grace periods, the unschedulable one longer than the start timeout.
pod_start_defs = _definitions(["kubernetes"], assets=(k8s_scores,), start_timeout_seconds=2, unschedulable_timeout_seconds=6)
spot_defs = _definitions(["kubernetes"], assets=(spot_k8s, flaky_spot_k8s, urgent_spot_k8s))
