"""Infrastructure retries: relaunch a step whose container the infrastructure killed, outside its retry budget.

An asset's ``RetryPolicy`` is for failures of its code and data. A container killed for being out
of memory, or a spot node taken back, says nothing about the code: the step is relaunched by the
routing step handler, within the same Dagster attempt, so the asset keeps its whole retry budget.

How it fits together:

- A backend step handler that can tell why its container died implements
  ``infrastructure_failure(context) -> InfrastructureFailure | None`` (called only after its
  ``check_step_health`` said unhealthy). Kubernetes reads the pod's container status
  (``OOMKilled``) and the pod's disruption condition or reason (``PREEMPTED``,
  ``k8s_step_handler``), SageMaker the job's ``FailureReason``.
- A *policy* per reason decides whether to relaunch and prepares the relaunch (``OOM``: one memory
  size up, ``auto_memory``; ``PREEMPTED``: the same size, on-demand for an interruptible step,
  ``capacity``). It returns a short description of the change, or None to let the failure stand.
- ``InfrastructureRetries`` counts relaunches per step and reason against per-reason limits and
  numbers them: the relaunched container's name carries the number (tag ``ATTEMPT_TAG``), so it
  never collides with the killed one.

Register another reason with ``RoutingStepHandler(..., retry_policies={reason: policy})``.
"""

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

OOM = "oom"
PREEMPTED = "preempted"
ATTEMPT_TAG = "ml_platform/infrastructure_attempt"  # relaunches of this step so far; handlers add it to job names
DEFAULT_LIMITS = {OOM: 3, PREEMPTED: 3}


@dataclass(frozen=True)
class InfrastructureFailure:
    reason: str  # OOM, PREEMPTED, ...
    detail: str  # what the backend saw, e.g. "container 'dagster' OOMKilled (exit code 137)"


# (step key, the step's tags as launched, failure) -> a description of the relaunch
# ("memory 512Mi -> 768Mi"), or None: no relaunch, the failure stands (and Dagster's retry policy applies).
RetryPolicy = Callable[[str, Mapping[str, str], InfrastructureFailure], str | None]


class InfrastructureRetries:
    """Relaunch counts of one run's steps, bounded per reason."""

    def __init__(self, limits: Mapping[str, int] = DEFAULT_LIMITS):
        self._limits = dict(limits)
        self._counts: dict[str, Counter] = {}

    def attempt(self, step_key: str) -> int:
        """How many times this step was relaunched (0: its first container)."""
        return sum(self._counts.get(step_key, Counter()).values())

    def count(self, step_key: str, reason: str) -> int:
        return self._counts.get(step_key, Counter())[reason]

    def allows(self, step_key: str, reason: str) -> bool:
        return self.count(step_key, reason) < self._limits.get(reason, 0)

    def record(self, step_key: str, reason: str) -> int:
        """Count one relaunch; returns the new attempt number."""
        self._counts.setdefault(step_key, Counter())[reason] += 1
        return self.attempt(step_key)


def attempt_suffix(tags: Mapping[str, str]) -> str:
    """Appended to a step's container/job name: '' for the first container, '-i<N>' for relaunches."""
    attempt = int(tags.get(ATTEMPT_TAG, "0"))
    return f"-i{attempt}" if attempt else ""
