"""A batch run as the UI launches it, executed in this process; a batch of days as a Dagster backfill.

Each run is a run of the code location's own asset job (``__ASSET_JOB``, what *Materialize* in the
UI launches) on the selected tables and their checks, recorded with the job's snapshot and the code
location's origin: the UI finds the job and can re-execute the run, and run-status sensors see it
as theirs. It executes in this process, as ``execute_in_process`` does (the summary needs no step
processes); its events stream back as they happen.

A backfill is recorded as a Dagster asset backfill covering the requested tables and days, with all
of them marked requested (this process launches the runs), so the Backfills page shows it and its
runs, and a running daemon only follows its progress. This process closes it when done, or cancelled.
"""

import os
import random
import signal
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from ml_platform._dagster_internal import (
    AssetGraphSubset,
    AssetKeyPartitionKey,
    BulkActionStatus,
    InMemoryJob,
    PartitionBackfill,
    ReconstructableRepository,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
    execute_run_iterator,
)
from ml_platform.batch_outcomes import first_line

# Dagster's run tags (dagster._core.storage.tags): the run's partition or range, and its backfill.
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
BACKFILL_TAG = "dagster/backfill"
# The CLI prints its own summary; every event stays in the run's records (and the UI).
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class RunOrigin:
    """The code location a run says it comes from (as the UI names it) and the pointer that rebuilds its jobs."""

    repository: RemoteRepositoryOrigin
    python: ReconstructableRepository

    def job_origins(self, job_name: str) -> dict:
        return {
            "remote_job_origin": RemoteJobOrigin(self.repository, job_name),
            "job_code_origin": self.python.get_reconstructable_job(job_name).get_python_origin(),
        }


def partition_tags(partitions: list[str]) -> dict[str, str]:
    if len(partitions) == 1:
        return {PARTITION_TAG: partitions[0]}
    return {RANGE_START_TAG: partitions[0], RANGE_END_TAG: partitions[-1]}


def create_run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: Iterable[dg.AssetKey],
    tags: dict[str, str],
    origin: RunOrigin | None,
):
    """A run of the asset job on ``selection`` and its checks, not started."""
    job = defs.resolve_implicit_global_asset_job_def()
    selected = frozenset(selection)
    return instance.create_run_for_job(
        job_def=job,  # subset here, so the run's parent snapshot is the job's as the UI loads it
        run_config=QUIET_RUN_CONFIG,
        tags=tags,
        asset_selection=selected,
        **(origin.job_origins(job.name) if origin else {}),
    )


def execute_in_process(defs: dg.Definitions, instance: dg.DagsterInstance, run) -> Iterator[object]:
    """Execute a created run here, step after step, yielding its Dagster events as they happen
    (Dagster holds Ctrl-C during a run, interrupting only user code: see ``ctrl_c_watch``)."""
    job = defs.resolve_implicit_global_asset_job_def()
    in_process = InMemoryJob(job.as_ephemeral_job(resource_defs={}, input_values={}))
    yield from execute_run_iterator(in_process, run, instance)


@contextmanager
def ctrl_c_watch() -> Iterator[Callable[[], bool]]:
    """Whether Ctrl-C was pressed since entering, whoever handled it. The interpreter writes every
    signal to the wakeup pipe; a flag set by our own handler would miss what Dagster's handlers take
    during a run (its captured flag is cleared when the run ends, and an interrupt in user code can
    fail an attempt that a retry policy then retries)."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    seen = False

    def pressed() -> bool:
        nonlocal seen
        try:
            while data := os.read(read, 512):
                seen = seen or signal.SIGINT in data
        except BlockingIOError:
            pass
        return seen

    try:
        yield pressed
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)


def retry_line(event) -> str | None:
    """A step about to be retried, one line: which attempt failed, why, and when it retries."""
    if event.event_type != dg.DagsterEventType.STEP_UP_FOR_RETRY:
        return None
    data = event.step_retry_data
    wait = f" in {data.seconds_to_wait:g} s" if data.seconds_to_wait else ""
    return f"{event.step_key}: attempt failed ({first_line(data.error)}); retrying{wait}"


def new_backfill_id() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=8))  # Dagster's own backfill id shape


def open_backfill(
    instance: dg.DagsterInstance,
    graph,
    targets: set[tuple[dg.AssetKey, str | None]],
    tags: dict[str, str],
    title: str,
) -> str:
    """Record a requested asset backfill over ``targets`` whose runs this process launches."""
    backfill_id = new_backfill_id()
    target = _subset(graph, targets)
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time(),
        tags=tags,
        dynamic_partitions_store=instance,
        asset_graph_subset=target,
        title=title,
        description="launched by ml-platform backfill; its runs execute in that command's process",
        run_config=None,
    )
    # Every target counts as requested: a daemon that sees the backfill follows it, requests nothing.
    data = backfill.asset_backfill_data._replace(requested_runs_for_target_roots=True, requested_subset=target)
    instance.add_backfill(backfill.with_asset_backfill_data(data, instance, graph))
    return backfill_id


def close_backfill(
    instance: dg.DagsterInstance,
    graph,
    backfill_id: str,
    materialized: set[tuple[dg.AssetKey, str | None]],
    failed: set[tuple[dg.AssetKey, str | None]],
    cancelled: bool,
    succeeded: bool,
) -> None:
    """Record the end: what landed and what did not, and whether it was cancelled, failed or succeeded
    (failed also when every table landed but a check failed or crashed: the CLI's verdict)."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        return
    data = backfill.asset_backfill_data._replace(
        materialized_subset=_subset(graph, materialized), failed_and_downstream_subset=_subset(graph, failed)
    )
    if cancelled:
        status = BulkActionStatus.CANCELED
    else:
        status = BulkActionStatus.COMPLETED_SUCCESS if succeeded else BulkActionStatus.COMPLETED_FAILED
    instance.update_backfill(
        backfill.with_asset_backfill_data(data, instance, graph).with_status(status).with_end_timestamp(time.time())
    )


def _subset(graph, pairs: Iterable[tuple[dg.AssetKey, str | None]]):
    return AssetGraphSubset.from_asset_partition_set({AssetKeyPartitionKey(key, partition) for key, partition in pairs}, graph)
