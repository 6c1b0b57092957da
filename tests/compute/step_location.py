"""A small code location for executor tests: one asset per backend, loaded by step workers too.

Steps run in other processes (``dagster api execute_step``), which re-import this module, so
tests load the module-level ``local_defs`` / ``cloud_defs`` as reconstructable repositories.
Cloud steps take no inputs: their containers share no disk with the run worker (outputs land in
the container's own storage), only the instance database.
"""

import pickle
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

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


# Whole-step peaks: a peak in a child process, and a peak while the input is loaded. Each step
# computes its own true peak (its process's resident memory at that moment plus the child's own
# high-water mark) and puts it on its materialization for the test to compare with.
CHILD_MIB, LOAD_MIB = 500, 400
TRUE_PEAK_KEY = "test/true_peak_mib"
_CHILD = ("import re, time; held = b'\\x01' * ({mib} << 20); time.sleep(0.6); "
          "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")


def _rss_kib(field: str = "VmRSS") -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE).group(1))


def _child_hog() -> dg.Output:
    parent = _rss_kib()
    child_peak = int(subprocess.run([sys.executable, "-c", _CHILD.format(mib=CHILD_MIB)], capture_output=True, text=True, check=True).stdout)
    return dg.Output(1, metadata={TRUE_PEAK_KEY: (parent + child_peak) / 1024})


@dg.asset(**Model(name="child_hog", product="compute_test", owner="team:platform", slo=WEEKLY, compute="light").asset_kwargs())
def child_hog() -> int:
    return _child_hog()


@dg.asset(**Model(name="child_hog_k8s", product="compute_test", owner="team:platform", slo=WEEKLY, compute="small", retries=0).asset_kwargs())
def child_hog_k8s() -> int:
    return _child_hog()


LOADED_PEAK_KIB: list[int] = []  # what the IO manager saw at the height of loading, in the step's process


class BulkyLoadIOManager(dg.ConfigurableIOManager):
    """Stores a small value; loading it parses a bulky file format (a LOAD_MIB buffer, then dropped)."""

    base_dir: str

    def _path(self, context) -> Path:
        return Path(self.base_dir, *context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        self._path(context).parent.mkdir(parents=True, exist_ok=True)
        self._path(context).write_bytes(pickle.dumps(obj))

    def load_input(self, context: dg.InputContext):
        buffer = b"\x01" * (LOAD_MIB << 20)  # resident while the input is decoded
        LOADED_PEAK_KIB.append(_rss_kib())
        del buffer
        return pickle.loads(self._path(context.upstream_output).read_bytes())


@dg.asset(**{**Model(name="bulky_source", product="compute_test", owner="team:platform", slo=WEEKLY, compute="light").asset_kwargs(),
             "io_manager_key": "bulky_io"})
def bulky_source() -> int:
    return 7


@dg.asset(**Model(name="bulky_reader", product="compute_test", owner="team:platform", slo=WEEKLY, compute="light").asset_kwargs())
def bulky_reader(bulky_source: int) -> int:
    return dg.Output(bulky_source + 1, metadata={TRUE_PEAK_KEY: LOADED_PEAK_KIB[-1] / 1024})


def _definitions(real_backends: list[str], assets=(light_counts, k8s_scores, sagemaker_model), **kubernetes) -> dg.Definitions:
    return dg.Definitions(
        assets=with_step_metrics(list(assets)),
        resources={MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager(),  # under the instance's storage dir
                   "bulky_io": BulkyLoadIOManager(base_dir=str(Path(tempfile.gettempdir(), "ml_platform_test_bulky_io")))},
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


def _auto(name: str, compute: str, memory: AutoMemory, retries: int = 1) -> dict:
    return Model(name=name, product="compute_test", owner="team:platform", slo=WEEKLY, compute=compute,
                 memory=memory, retries=retries).asset_kwargs()


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


SPIKE_TAG = "test/spike"  # a run with this tag is a day whose data needs HUNGRY_MIB more


@dg.asset(**_auto("spiky_k8s", "small", AUTO))
def spiky_k8s(context: dg.AssetExecutionContext) -> int:
    if not context.run.tags.get(SPIKE_TAG):
        return 0
    held = b"\x01" * (HUNGRY_MIB * 2**20)
    time.sleep(1.5)  # long enough for the kubelet (fixture) to see it
    return len(held)


# No retry: its one attempt is killed at the maximum (a retry would wait the default minute to be killed again).
@dg.asset(**_auto("capped_k8s", "small", AutoMemory(min="256Mi", max="512Mi", min_runs=3), retries=0))
def capped_k8s() -> int:
    held = b"\x01" * (HUNGRY_MIB * 2**20)
    time.sleep(1.5)
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
# Pods that cannot start: short grace periods, the unschedulable one longer than the start timeout.
# dagster-k8s executor keys the routing executor takes from dagster-k8s's own schema.
k8s_keys_defs = _definitions(["kubernetes"], assets=(k8s_scores,), service_account_name="ml-platform-steps",
                             labels={"ml-platform/team": "platform"}, image_pull_policy="IfNotPresent")
pod_start_defs = _definitions(["kubernetes"], assets=(k8s_scores,), start_timeout_seconds=2, unschedulable_timeout_seconds=6)
auto_defs = _definitions(["kubernetes", "sagemaker"], assets=(auto_k8s, auto_large_k8s, hungry_k8s, auto_sagemaker, spiky_k8s, capped_k8s))
peak_defs = _definitions([], assets=(child_hog, bulky_source, bulky_reader))
peak_k8s_defs = _definitions(["kubernetes"], assets=(child_hog_k8s,))
spot_defs = _definitions(["kubernetes"], assets=(spot_k8s, flaky_spot_k8s, urgent_spot_k8s))
