"""Terminating a run, as the UI's Terminate button does, stops its steps on every backend.

The run is launched by dagster-k8s's ``K8sRunLauncher`` (its run worker is a Job in kmock, run
by the Job controller as a ``dagster api execute_run`` process) and terminated with
``instance.run_launcher.terminate``: the launcher marks the run canceling and deletes the
run-worker Job; the controller sends the worker SIGTERM, as the kubelet would; the worker's
executor then calls ``terminate_step`` for each running step.
"""

from pathlib import Path

import dagster as dg
import pytest

from tests.compute.helpers import reconstructable_job, wait_for, worker_pids
from tests.fixtures.sagemaker_cloud import HANG

pytestmark = pytest.mark.timeout(180)

STEPS = ("slow_local", "slow_k8s", "slow_sagemaker")


def _started_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    return {r.event_log_entry.step_key for r in records}


def _process_is_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


def test_terminating_the_run_stops_its_kubernetes_job_sagemaker_job_and_local_process(k8s_instance, kube, sagemaker):
    controller, _ = kube
    sagemaker.plans["slow_sagemaker"] = HANG  # the processing job stays InProgress until stopped
    job = reconstructable_job("slow_cloud_defs")
    run = k8s_instance.create_run_for_job(job_def=job.get_definition(), job_code_origin=job.get_python_origin())
    k8s_instance.launch_run(run.run_id, workspace=None)  # K8sRunLauncher reads no workspace

    def all_steps_running() -> bool:
        sagemaker_running = [j for j in sagemaker.jobs.values() if j.statuses == ["InProgress"]]
        return _started_steps(k8s_instance, run.run_id) >= {"slow_local", "slow_k8s"} and bool(sagemaker_running)

    wait_for(all_steps_running, timeout=90, what="the three steps to run")
    local_pid = worker_pids(k8s_instance, run.run_id)["slow_local"]
    (step_job_name,) = [name for name in controller.jobs if name.startswith("dagster-step-")]
    (processing_job_name,) = sagemaker.jobs

    assert k8s_instance.run_launcher.terminate(run.run_id)

    wait_for(lambda: k8s_instance.get_run_by_id(run.run_id).is_finished, timeout=60, what="the run to finish")
    assert k8s_instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED

    step_job = controller.wait_until_finished()[step_job_name]
    assert step_job.deleted and step_job.exit_code is not None
    assert step_job_name not in {j.metadata.name for j in controller.batch.list_namespaced_job("default").items}

    assert sagemaker.stop_requests == [processing_job_name]  # StopProcessingJob, received over HTTP
    assert sagemaker.wait_until_finished()[processing_job_name].statuses == ["InProgress", "Stopped"]

    assert _process_is_gone(local_pid)
    assert not any(k8s_instance.get_latest_materialization_event(dg.AssetKey(step)) for step in STEPS)
