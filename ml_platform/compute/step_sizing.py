"""Sizing a run's automatic-memory steps at launch, and one size up after an out-of-memory kill.

The routing step handler owns one ``StepSizer`` per run. The first time a step with automatic
memory launches, the sizer reads the attempt records of every asset in one batched, paged storage
read (``instance_reads.attempts_after``: peaks of successful attempts, and out-of-memory kills with
the limit they hit) and keeps them for the rest of the run; each auto step's
decision is kept too, so health checks and relaunches see the same size. The decision reaches
the backend as step tags its backend rewrites from the sized profile (``Backend.sized_tags``:
``dagster-k8s/config`` with memory and node pool, or the SageMaker instance type); and the step
container gets it as ``DECISION_ENV`` so its materialization records the size and the reason
(``step_metrics``).
"""

import json
import time
from collections.abc import Mapping
from datetime import timedelta

import dagster as dg

from ml_platform.compute.auto_memory import (
    MEMORY_REASON_KEY,
    AutoMemory,
    MemoryDecision,
    ceiling,
    decide,
    learned_floor,
    next_size,
    quantity,
    sized_profile,
)
from ml_platform.compute.backends import backend_of
from ml_platform.compute.infrastructure_retry import InfrastructureFailure
from ml_platform.compute.profiles import PROFILE_TAG, get_profile, quantity_bytes
from ml_platform.compute.step_usage import DECISION_ENV, DECISION_TAG

__all__ = ["DECISION_ENV", "DECISION_TAG", "StepSizer", "describe", "recorded_decision", "sized_tags"]

LOOKBACK = timedelta(days=45)  # peaks older than this are not read (a daily asset's 30 runs fit)


class StepSizer:
    def __init__(self, lookback: timedelta = LOOKBACK):
        self._lookback = lookback
        self._attempts: dict[str, list] | None = None  # asset -> attempt records, newest first
        self._decisions: dict[str, MemoryDecision] = {}

    def decision(self, step_key: str, tags: Mapping[str, str], asset_key: dg.AssetKey | None,
                 instance: dg.DagsterInstance) -> MemoryDecision | None:
        """The step's size, decided on first call; None for a step without automatic memory."""
        auto = AutoMemory.from_tags(tags)
        if auto is None:
            return None
        if step_key not in self._decisions:
            attempts = self._history(instance).get(asset_key.to_user_string(), []) if asset_key else []
            profile = get_profile(tags[PROFILE_TAG])
            peaks = [a.peak_mib for a in attempts if a.outcome == "succeeded" and a.peak_mib is not None]
            ran_with = [(a.outcome, quantity_bytes(a.requested_memory) if a.requested_memory else None) for a in attempts]
            self._decisions[step_key] = decide(auto, profile, peaks, learned_floor(auto, profile, ran_with))
        return self._decisions[step_key]

    def _history(self, instance: dg.DagsterInstance) -> dict[str, list]:
        if self._attempts is None:
            from ml_platform.instance_reads import (
                attempts_after,  # it imports step_metrics, which imports this module
            )

            self._attempts = {}
            for attempt in reversed(attempts_after(instance, time.time() - self._lookback.total_seconds())):
                self._attempts.setdefault(attempt.asset, []).append(attempt)
        return self._attempts

    def memory(self, step_key: str, tags: Mapping[str, str]) -> str:
        """The memory the step's container runs with: its automatic size, else its profile's."""
        decision = self._decisions.get(step_key)
        return decision.memory if decision else get_profile(tags[PROFILE_TAG]).memory

    def out_of_memory(self, step_key: str, tags: Mapping[str, str], asset: str, failure: InfrastructureFailure) -> str:
        """Why an out-of-memory failure stands, naming the size, the maximum and the declaration field to change."""
        profile, auto = get_profile(tags[PROFILE_TAG]), AutoMemory.from_tags(tags)
        memory = self.memory(step_key, tags)
        if auto is None:
            fix = (f"declare a bigger compute profile (field 'compute', now '{profile.name}') or automatic memory"
                   f" with a higher maximum (field 'memory', e.g. AutoMemory(max=\"{quantity(2 * profile.memory_bytes)}\"))")
            return f"out of memory: {failure.detail} at {memory}, the declared memory of profile '{profile.name}'; {fix} of '{asset}'"
        maximum = quantity(ceiling(auto, profile))
        if quantity_bytes(memory) < ceiling(auto, profile):  # the relaunches of this run ran out first
            return (f"out of memory: {failure.detail} at {memory} after its relaunches one size up in this run"
                    f" (maximum {maximum}); the next run starts above {memory}")
        return (f"out of memory: {failure.detail} at {memory}, the maximum of its automatic memory ({maximum});"
                f" raise field 'memory.max' (AutoMemory(max=...)) of '{asset}' above {maximum}, or reduce what the step holds")

    def escalate(self, step_key: str, tags: Mapping[str, str], failure: InfrastructureFailure) -> str | None:
        """The out-of-memory policy: one size up within the maximum, or None at the maximum."""
        auto, current = AutoMemory.from_tags(tags), self._decisions.get(step_key)
        if auto is None or current is None:
            return None
        bigger = next_size(auto, get_profile(tags[PROFILE_TAG]), current.memory_bytes)
        if bigger is None:
            return None
        self._decisions[step_key] = current.escalated(bigger, failure.reason)
        return f"memory {current.memory} -> {quantity(bigger)}"


def sized_tags(tags: Mapping[str, str], decision: MemoryDecision | None, capacity: str | None = None) -> dict[str, str]:
    """The step's tags as its backend should see them with the decided size (if any) and, for an
    interruptible profile, on the chosen capacity (spot or on-demand)."""
    profile = get_profile(tags[PROFILE_TAG])
    sized, env = dict(tags), {}
    if decision is not None:
        profile = sized_profile(profile, decision)
        sized[DECISION_TAG] = json.dumps({**decision.metadata(), MEMORY_REASON_KEY: _short(decision.reason)})  # SageMaker caps env values
        env[DECISION_ENV] = sized[DECISION_TAG]
    return backend_of(profile).sized_tags(profile, sized, capacity, env)


def _short(text: str, limit: int = 150) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(step_key: str, tags: Mapping[str, str], decision: MemoryDecision) -> str:
    profile = sized_profile(get_profile(tags[PROFILE_TAG]), decision)
    return f"Memory for step {step_key}: {decision.memory} on {backend_of(profile).describe_size(profile)} ({decision.reason})"


def recorded_decision() -> dict[str, str | int]:
    """In the step's container: the launcher's decision, as materialization metadata ({} if none)."""
    value = dg.EnvVar(DECISION_ENV).get_value()
    return json.loads(value) if value else {}
