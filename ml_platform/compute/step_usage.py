"""What a step attempt really used: peak memory of the whole step, wall time, start-up, outcome.

Every attempt of a step — the one that succeeded, and the ones that were OOM-killed, preempted or
failed — leaves one *attempt record*: an ``AssetObservation`` on the step's asset and partition
whose metadata holds the keys below. The step writes its own record at its end, after its output
was written (``step_metrics``); the launcher writes the record of a container the infrastructure
killed (``routing_executor``), since that container writes nothing. Sizing (``step_sizing``), the
deadline p90 (``instance_reads.step_durations``) and cost (``cost_report``) read these records.

Peak memory, per backend (one small function each):

- Kubernetes and SageMaker: the container's cgroup, ``memory.peak`` (cgroup v2) or
  ``memory.max_usage_in_bytes`` (v1), under the directory the launcher names in ``CGROUP_ENV``:
  every process of the container, from its start to the moment it is read.
- Local process: the process tree — the step process's own high-water mark (``VmHWM``) plus the
  high-water marks of its live descendants plus the largest finished child (``RUSAGE_CHILDREN``).
  A forked step resets its inherited high-water mark when it starts (``reset_peak``).
- In-process runs (``dg.materialize``: several steps one after another in one process) cannot
  separate steps by process: the mark is reset when the step's computation starts, as the source says.

Wall time is from the step process's start to the record; start-up from the launch (the launcher
passes the time in ``LAUNCHED_AT_ENV``) to the process's start.
"""

import os
import re
import resource
import sys
import time
from pathlib import Path

import dagster as dg

PEAK_MEMORY_KEY = "ml_platform/peak_memory_mib"
MEMORY_SOURCE_KEY = "ml_platform/peak_memory_source"
DURATION_KEY = "ml_platform/step_duration_s"  # wall time of the step process (or container)
STARTUP_KEY = "ml_platform/startup_s"  # launch to process start: pod scheduling, image pull, job provisioning
OUTCOME_KEY = "ml_platform/attempt_outcome"
REQUESTED_MEMORY_KEY = "ml_platform/requested_memory"  # the memory request (= limit) the attempt ran with
SUCCEEDED, FAILED, OOM_KILLED, PREEMPTED = "succeeded", "failed", "oom_killed", "preempted"

LAUNCHED_AT_ENV = "ML_PLATFORM_LAUNCHED_AT"  # unix time the launcher created the pod / job / process
LAUNCHED_AT_TAG = "ml_platform/launched_at"  # the same, on the step's tags as launched (each backend puts it in the env)
# Where a container reads its own peak memory: its cgroup. The Kubernetes and SageMaker backends put it
# in the container's env at launch, with the launch time.
CGROUP_ENV, CGROUP_DIR = "ML_PLATFORM_CGROUP_DIR", "/sys/fs/cgroup"
# An automatic-memory step's size and why (step_sizing), as JSON: a step tag, which each backend hands
# to its container's environment, where step_metrics puts it on the materialization.
DECISION_TAG, DECISION_ENV = "ml_platform/memory_decision", "ML_PLATFORM_MEMORY_DECISION"
STEP_PROCESS_ENV = "DAGSTER_RUN_STEP_KEY"  # set in every step worker (dagster-k8s, SageMaker, local): one step per process
MIB = 2**20

_CGROUP_PEAK_FILES = ("memory.peak", "memory/memory.max_usage_in_bytes", "memory.max_usage_in_bytes")


def cgroup_peak_bytes(directory: str) -> int | None:
    """The container's peak memory from its cgroup (v2, then v1 layouts); None if not readable."""
    for name in _CGROUP_PEAK_FILES:
        try:
            return int(Path(directory, name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return None


def process_tree_peak_bytes(pid: int | None = None) -> int:
    """This process's high-water mark + its live descendants' + the largest finished child's."""
    pid = pid or os.getpid()
    live = sum(_status_kib(p, "VmHWM") for p in _descendants(pid)) * 1024
    finished = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return _own_peak_bytes() + live + finished


def _own_peak_bytes() -> int:
    hwm = _status_kib("self", "VmHWM")
    if hwm:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _status_kib(pid: int | str, field: str) -> int:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            found += children
            queue += children
    return found


def reset_peak() -> bool:
    """Reset this process's high-water mark to its current RSS (Linux >= 4.0); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def process_started_at() -> float:
    """Unix time this process started (Linux: from /proc; elsewhere: when this module was imported)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # since boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])  # /proc/stat's btime is whole seconds
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT


_IMPORTED_AT = time.time()


class StepMeter:
    """Peak memory and wall time of the step this process runs, from ``start()`` (the step's
    computation) to ``usage()`` (after its output was written). In a dedicated step process both
    reach back to the process's start; in an in-process run they start at ``start()``."""

    def start(self) -> "StepMeter":
        self.dedicated = bool(os.environ.get(STEP_PROCESS_ENV))
        self.cgroup = os.environ.get(CGROUP_ENV) if self.dedicated else None
        if not self.dedicated:
            self.source = "process VmHWM since the computation started (in-process run)" if reset_peak() else "process ru_maxrss"
            self._children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        self.started = process_started_at() if self.dedicated else time.time()
        return self

    def usage(self) -> dict[str, float | str]:
        """The attempt-record figures so far: peak (MiB) with its source, wall time, start-up."""
        peak = cgroup_peak_bytes(self.cgroup) if self.cgroup else None
        if peak is not None:
            source = f"cgroup {self.cgroup}"
        elif self.dedicated:
            peak, source = process_tree_peak_bytes(), "process tree" + (f" (no cgroup at {self.cgroup})" if self.cgroup else "")
        else:
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            finished = children * 1024 if children > self._children_before else 0  # a child of this step, not an earlier one
            peak, source = _own_peak_bytes() + finished, self.source
        figures: dict[str, float | str] = {
            PEAK_MEMORY_KEY: round(peak / MIB, 1),
            MEMORY_SOURCE_KEY: source,
            DURATION_KEY: round(max(time.time() - self.started, 0.0), 3),
        }
        launched = dg.EnvVar(LAUNCHED_AT_ENV).get_value() if self.dedicated else None
        if launched:
            figures[STARTUP_KEY] = round(max(self.started - float(launched), 0.0), 3)
        return figures
