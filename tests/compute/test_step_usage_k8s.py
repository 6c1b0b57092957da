"""What a Kubernetes step really used, read from its container's cgroup (the fake kernel keeps it)."""

import dagster as dg
import pytest

from ml_platform.compute.step_usage import MEMORY_SOURCE_KEY, PEAK_MEMORY_KEY, STARTUP_KEY
from tests.compute.helpers import latest_attempt, reconstructable_job, step_failures
from tests.compute.step_location import CHILD_MIB, TRUE_PEAK_KEY

pytestmark = pytest.mark.timeout(180)


def test_kubernetes_step_peak_in_a_child_process_is_read_from_the_containers_cgroup(k8s_instance, kube, sagemaker):
    controller, _ = kube
    result = dg.execute_job(reconstructable_job("peak_k8s_defs"), instance=k8s_instance, raise_on_error=False)
    assert result.success, step_failures(k8s_instance, result.run_id)
    controller.wait_until_finished()

    attempt = latest_attempt(k8s_instance, "child_hog_k8s")
    truth = k8s_instance.get_latest_materialization_event(dg.AssetKey("child_hog_k8s")).asset_materialization.metadata[TRUE_PEAK_KEY].value
    assert truth > CHILD_MIB
    assert attempt[MEMORY_SOURCE_KEY].startswith("cgroup ") and attempt[MEMORY_SOURCE_KEY].endswith("/sys/fs/cgroup")
    assert abs(attempt[PEAK_MEMORY_KEY] - truth) <= 0.1 * truth, (attempt, truth)
    assert attempt[STARTUP_KEY] > 0  # the pod was created, then its container started
