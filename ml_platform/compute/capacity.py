"""Spot or on-demand, per launch of an interruptible step.

A profile marked ``interruptible`` (Kubernetes only) runs its attempts on spot capacity, except:

- the step's final attempt (its asset's retry policy has no retry left) runs on on-demand capacity;
- a step preempted ``MAX_SPOT_PREEMPTIONS`` times in one attempt is relaunched on on-demand capacity;
- whatever its attempt number, a step whose partition's own SLO deadline (a daily partition's
  deadline on its date; an unpartitioned table's next deadline) is past, or nearer than the p90 of
  its recorded durations (start-up plus wall time) × ``ML_PLATFORM_DEADLINE_SAFETY_FACTOR`` (default
  1.5), goes straight to on-demand: a preemption then would cost the deadline (``DeadlineGuard``).

A preemption — the pod evicted, or its node reclaimed — is an infrastructure retry
(``infrastructure_retry``): the step is relaunched within the same attempt, the asset's retry budget
is untouched. SageMaker profiles cannot be interruptible: Processing Jobs have no managed spot.
"""

import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import dagster as dg

from ml_platform.compute.backends.base import ON_DEMAND, SPOT
from ml_platform.instance_reads import step_durations
from ml_platform.slo.deadlines import next_deadline, partition_deadline

MAX_SPOT_PREEMPTIONS = 1  # preemptions in one attempt after which the relaunch goes on-demand
SAFETY_ENV = "ML_PLATFORM_DEADLINE_SAFETY_FACTOR"
DEFAULT_SAFETY = 1.5
DURATION_LOOKBACK = timedelta(days=30)  # recorded durations older than this are not read


def p90(values: Sequence[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


class DeadlineGuard:
    """One run's view of deadlines: the recorded step durations of every asset, read once (one paged
    read across all assets, on the first interruptible launch), and each table's next deadline."""

    def __init__(self):
        self._durations: dict[str, list[float]] | None = None

    def _history(self, instance: dg.DagsterInstance) -> dict[str, list[float]]:
        if self._durations is None:
            self._durations = step_durations(instance, time.time() - DURATION_LOOKBACK.total_seconds())
        return self._durations

    def near(self, instance: dg.DagsterInstance, asset: str, declaration, partition: str | None = None,
             now: datetime | None = None) -> str | None:
        """Why the partition's deadline is past or too near for spot capacity, or None (also without an SLO)."""
        if declaration is None:
            return None
        now = now or datetime.now(timezone.utc)
        deadline = partition_deadline(declaration, partition) or next_deadline(declaration, now)
        if deadline <= now:
            return f"partition {partition} is past its deadline {deadline:%Y-%m-%d %H:%M %Z}"
        durations = self._history(instance).get(asset)
        if not durations:
            return None
        safety = float(dg.EnvVar(SAFETY_ENV).get_value() or DEFAULT_SAFETY)
        left, needed = (deadline - now).total_seconds(), p90(durations) * safety
        if left >= needed:
            return None
        return (f"deadline {deadline:%Y-%m-%d %H:%M %Z} in {_span(left)}, under p90 {_span(p90(durations))} × {safety:g}"
                f" of {len(durations)} runs")


def _span(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{max(seconds, 0):.0f}s" if minutes < 1 else f"{minutes}m"


def capacity_for(attempt: int, max_retries: int, preemptions: int, deadline_near: str | None = None) -> tuple[str, str]:
    """(capacity, why) for an interruptible step's next container; ``attempt`` counts from 0."""
    if attempt >= max_retries:
        return ON_DEMAND, f"final attempt ({attempt + 1} of {max_retries + 1})"
    if deadline_near:
        return ON_DEMAND, deadline_near
    if preemptions >= MAX_SPOT_PREEMPTIONS:
        return ON_DEMAND, f"preempted {preemptions}× on spot in attempt {attempt + 1}"
    return SPOT, f"attempt {attempt + 1} of {max_retries + 1}"
