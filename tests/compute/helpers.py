"""Launching runs of ``step_location`` the way a run worker does: reconstructable, on a persistent instance."""

import os
import time
from collections.abc import Callable

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository  # test-only internal

from tests.compute import step_location

ASSET_JOB = "__ASSET_JOB"


def reconstructable_job(defs_attribute: str):
    repository = ReconstructableRepository.for_file(step_location.__file__, defs_attribute, working_directory=os.getcwd())
    return repository.get_reconstructable_job(ASSET_JOB)


def worker_messages(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTING).records
    return {r.event_log_entry.step_key: r.event_log_entry.dagster_event.message for r in records}


def step_failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Each failed step's error; a run that failed outside its steps under the key "run"."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    found = {
        r.event_log_entry.step_key: r.event_log_entry.dagster_event.step_failure_data.error.to_string()
        for r in records
    }
    for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records:
        data = r.event_log_entry.dagster_event.event_specific_data
        if not found and data is not None and data.error is not None:
            found["run"] = data.error.to_string()
    return found


def worker_pids(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """The pid of each local step process, from its STEP_WORKER_STARTING event's metadata."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTING).records
    pids = {}
    for record in records:
        metadata = record.event_log_entry.dagster_event.engine_event_data.metadata
        if "pid" in metadata:
            pids[record.event_log_entry.step_key] = int(metadata["pid"].value)
    return pids


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.2)


def latest_attempt(instance: dg.DagsterInstance, asset: str) -> dict:
    """The newest attempt record of an asset (``step_usage``), as plain values, with its run id."""
    record = instance.fetch_observations(dg.AssetKey(asset), limit=1).records[0]
    return {"run_id": record.run_id, **{k: v.value for k, v in record.asset_observation.metadata.items()}}


def attempts(instance: dg.DagsterInstance, asset: str, run_id: str | None = None) -> list[dict]:
    """Every attempt record of an asset (of one run), oldest first."""
    records = instance.fetch_observations(dg.AssetKey(asset), limit=1000).records
    found = [{"run_id": r.run_id, **{k: v.value for k, v in r.asset_observation.metadata.items()}} for r in reversed(records)]
    return [a for a in found if run_id is None or a["run_id"] == run_id]
