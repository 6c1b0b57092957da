"""Spot or on-demand, per launch of an interruptible step.

A profile marked ``interruptible`` (Kubernetes only) runs its attempts on spot capacity, except:

- the step's final attempt (its asset's retry policy has no retry left) runs on on-demand capacity;
- a step preempted ``MAX_SPOT_PREEMPTIONS`` times in one attempt is relaunched on on-demand capacity.

A preemption — the pod evicted, or its node reclaimed — is an infrastructure retry
(``infrastructure_retry``): the step is relaunched within the same attempt, the asset's retry budget
is untouched. SageMaker profiles cannot be interruptible: Processing Jobs have no managed spot.
"""

from ml_platform.compute.kubernetes import ON_DEMAND, SPOT

MAX_SPOT_PREEMPTIONS = 1  # preemptions in one attempt after which the relaunch goes on-demand


def capacity_for(attempt: int, max_retries: int, preemptions: int) -> tuple[str, str]:
    """(capacity, why) for an interruptible step's next container; ``attempt`` counts from 0."""
    if attempt >= max_retries:
        return ON_DEMAND, f"final attempt ({attempt + 1} of {max_retries + 1})"
    if preemptions >= MAX_SPOT_PREEMPTIONS:
        return ON_DEMAND, f"preempted {preemptions}× on spot in attempt {attempt + 1}"
    return SPOT, f"attempt {attempt + 1} of {max_retries + 1}"
