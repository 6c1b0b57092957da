"""In the local environment every step runs in its own local process, whatever its profile."""

import os
from pathlib import Path

import dagster as dg
import pytest

from ml_platform.compute.routing_executor import executor_for_env
from ml_platform.compute.step_usage import (
    DURATION_KEY,
    MEMORY_SOURCE_KEY,
    OUTCOME_KEY,
    PEAK_MEMORY_KEY,
    STARTUP_KEY,
    SUCCEEDED,
)
from ml_platform.definitions import build_definitions
from tests.compute.helpers import latest_attempt, reconstructable_job, worker_messages, worker_pids
from tests.compute.step_location import CHILD_MIB, HOG_MIB, LOAD_MIB, TRUE_PEAK_KEY


def test_local_env_runs_every_profile_in_a_local_process(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(reconstructable_job("local_defs"), instance=instance)
        assert result.success
        messages = worker_messages(instance, result.run_id)
        assert set(messages) == {"light_counts", "k8s_scores", "sagemaker_model"}
        assert all("in local process" in m for m in messages.values())


def test_every_step_records_its_attempt_with_peak_memory_and_duration(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(reconstructable_job("local_defs"), instance=instance)
        for name in ("light_counts", "k8s_scores", "sagemaker_model"):
            attempt = latest_attempt(instance, name)
            assert attempt[PEAK_MEMORY_KEY] > 20  # a Python process with Dagster loaded
            assert attempt[DURATION_KEY] > 0 and attempt[OUTCOME_KEY] == SUCCEEDED
        assert result.success


def test_code_location_default_executor_is_chosen_by_environment():
    assert build_definitions("local").resolve_job_def("__ASSET_JOB").executor_def.name == "ml_platform_routing_local"
    production = executor_for_env("production")
    assert production.name == "ml_platform_routing_production"


def test_a_bad_local_start_method_fails_at_load_naming_the_variable(monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_LOCAL_START_METHOD", "thread")
    with pytest.raises(ValueError, match="ML_PLATFORM_LOCAL_START_METHOD='thread': expected one of fork, spawn"):
        build_definitions("local")


def _peak_mib(instance: dg.DagsterInstance, asset: str) -> float:
    return latest_attempt(instance, asset)[PEAK_MEMORY_KEY]


def _vm_hwm_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="VmHWM needs Linux /proc")
def test_forked_step_peak_memory_is_its_own_not_the_run_workers_or_a_siblings(tmp_path):
    """The run worker (this process) forks each step: the 300 MiB one step holds shows on that
    step only, not on the step after it (forked from the same run worker) nor in the run worker."""
    worker_peak_before = _vm_hwm_mib()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(reconstructable_job("memory_defs"), instance=instance)
        assert result.success
        assert all("(fork)" in m for m in worker_messages(instance, result.run_id).values())
        pids = worker_pids(instance, result.run_id)
        hog, after = _peak_mib(instance, "memory_hog"), _peak_mib(instance, "after_hog")
    assert pids["memory_hog"] != pids["after_hog"] and os.getpid() not in pids.values()
    assert hog - after >= HOG_MIB * 0.9, (hog, after)
    assert after > 20  # a process with Dagster and the code location loaded
    assert _vm_hwm_mib() - worker_peak_before < HOG_MIB / 2  # the allocation never happened in the run worker


def true_peak(instance: dg.DagsterInstance, asset: str) -> float:
    return instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata[TRUE_PEAK_KEY].value


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="process-tree peaks need Linux /proc")
def test_recorded_peak_covers_child_processes_and_input_loading(tmp_path):
    """A step whose peak is in a child process, and one whose peak is while its input loads: the
    attempt record is within 10% of the true peak (the old compute-only mark saw neither)."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(reconstructable_job("peak_defs"), instance=instance)
        assert result.success
        for asset, allocated in (("child_hog", CHILD_MIB), ("bulky_reader", LOAD_MIB)):
            attempt, truth = latest_attempt(instance, asset), true_peak(instance, asset)
            assert truth > allocated
            assert abs(attempt[PEAK_MEMORY_KEY] - truth) <= 0.1 * truth, (asset, attempt, truth)
            assert attempt[MEMORY_SOURCE_KEY] == "process tree" and attempt[OUTCOME_KEY] == SUCCEEDED
            assert attempt[DURATION_KEY] > 0 and attempt[STARTUP_KEY] >= 0
