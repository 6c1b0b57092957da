"""Automatic memory: a step's memory follows the peaks its own materializations recorded.

A declaration asks for it with ``memory=AutoMemory(...)`` next to its compute profile. At launch
the routing executor reads the recent peaks (``ml_platform/peak_memory_mib``, written by
``step_metrics``) of every asset once per run, and sizes each auto step:

    memory = round_up(p95(last ``history`` peaks) × (1 + margin), 256 MiB), within [min, max]
    and within the allocatable memory of the largest node pool the step may use.

With fewer than ``min_runs`` peaks the declared profile applies. An out-of-memory kill is learned
(``OomFloor``): a step killed at a limit L needs more than L, so it starts at no less than the size
that succeeded after the kill until ``history`` successful runs have followed it (the window its
peaks are taken over): no step is killed twice for the same need. CPU, GPUs, disk and eviction
follow the profile. The sizes come from the profile's backend (its ``SizeLadder``; a backend
without one has no automatic memory): the Kubernetes node pool follows the chosen memory
(``kubernetes.pool_for``), so a step sized down from ``large`` leaves the highmem nodes; a
SageMaker step gets the smallest instance type of its profile's family that holds the memory. An
out-of-memory step is relaunched one size up (``next_size``) through ``infrastructure_retry``.
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from ml_platform.compute.backends import BACKENDS, SizeLadder, backend_of
from ml_platform.compute.backends.base import GIB, GROWTH, MIB, STEP, quantity
from ml_platform.compute.profiles import ComputeProfile, quantity_bytes

__all__ = ["GIB", "GROWTH", "MIB", "STEP", "AutoMemory", "MemoryDecision", "decide", "learned_floor", "next_size", "quantity"]

AUTO_MEMORY_TAG = "ml_platform/auto_memory"  # op tag: the AutoMemory settings as JSON
# On the launch event and the materialization: the size a step ran with, why, and its OOM retries.
MEMORY_KEY, MEMORY_REASON_KEY, ESCALATIONS_KEY = "ml_platform/memory", "ml_platform/memory_reason", "ml_platform/memory_escalations"


@dataclass(frozen=True)
class AutoMemory:
    """Memory chosen from observed peaks. ``max`` defaults to the profile's memory, so automatic
    sizing never asks for more than was declared unless the declaration says so."""

    min: str = "512Mi"
    max: str | None = None
    margin: float = 0.3  # headroom over the p95 peak
    min_runs: int = 5  # below this many recorded peaks the declared profile applies
    history: int = 30  # most recent peaks the p95 is taken over

    def problems(self, profile: ComputeProfile) -> list[tuple[str, str]]:
        found = []
        for name in ("min", "max"):
            value = getattr(self, name)
            if value is not None and not _is_quantity(value):
                found.append((f"memory.{name}", f"'{value}' is not a memory quantity such as '512Mi' or '4Gi'"))
        if found:
            return found
        ladder = backend_of(profile).ladder
        if ladder is None:
            sized = " or ".join(b.title for b in BACKENDS.values() if b.ladder is not None)
            found.append(("memory", f"automatic memory needs a {sized} profile, '{profile.name}' is {profile.backend}"))
        if self.min_bytes > self.max_bytes(profile):
            found.append(("memory.min", f"{self.min} is more than the maximum {self.max or profile.memory}"))
        if ladder is not None:
            found += ladder.problems(profile, self.max_bytes(profile), self.max)
        if not 0 <= self.margin <= 3:
            found.append(("memory.margin", f"must be within [0, 3], got {self.margin}"))
        if self.min_runs < 1 or self.history < self.min_runs:
            found.append(("memory", f"need 1 <= min_runs <= history, got {self.min_runs}, {self.history}"))
        return found

    @property
    def min_bytes(self) -> int:
        return quantity_bytes(self.min)

    def max_bytes(self, profile: ComputeProfile) -> int:
        return quantity_bytes(self.max) if self.max else profile.memory_bytes

    def op_tags(self) -> dict[str, str]:
        return {AUTO_MEMORY_TAG: json.dumps(asdict(self), sort_keys=True)}

    @staticmethod
    def from_tags(tags: Mapping[str, str]) -> "AutoMemory | None":
        value = tags.get(AUTO_MEMORY_TAG)
        return AutoMemory(**json.loads(value)) if value else None


def _is_quantity(value: str) -> bool:
    try:
        return quantity_bytes(value) > 0
    except ValueError:
        return False


@dataclass(frozen=True)
class MemoryDecision:
    """The size a step runs with and why, shown in its event log and on its materialization."""

    memory_bytes: int
    reason: str
    runs: int
    p95_mib: float | None = None
    escalations: int = 0  # out-of-memory retries that led to this size
    declared: bool = False  # too little history: the declared profile, unchanged

    @property
    def memory(self) -> str:
        return quantity(self.memory_bytes)

    def metadata(self) -> dict[str, str | int]:
        return {MEMORY_KEY: self.memory, MEMORY_REASON_KEY: self.reason, ESCALATIONS_KEY: self.escalations}

    def escalated(self, memory_bytes: int, why: str) -> "MemoryDecision":
        return replace(
            self, memory_bytes=memory_bytes, escalations=self.escalations + 1, declared=False,
            reason=f"{self.reason}; {why}: {quantity(self.memory_bytes)} -> {quantity(memory_bytes)}",
        )


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class OomFloor:
    """What past out-of-memory kills taught: the step needs more than ``killed_bytes``, and
    ``floor_bytes`` (the size that succeeded after the kill, or one size up) is where it starts."""

    killed_bytes: int
    floor_bytes: int
    runs_since: int  # successful runs since the kill
    runs_left: int  # successful runs before the kill is forgotten

    def describe(self) -> str:
        return (f"OOM-killed at {quantity(self.killed_bytes)} {self.runs_since} run(s) ago: at least {quantity(self.floor_bytes)}"
                f" for {self.runs_left} more run(s)")


def learned_floor(auto: AutoMemory, profile: ComputeProfile, attempts: Sequence[tuple[str, int | None]]) -> OomFloor | None:
    """The floor left by out-of-memory kills among ``attempts`` ((outcome, memory it ran with), newest
    first): the largest one among kills followed by fewer than ``history`` successful runs."""
    successes: list[int | None] = []
    best: OomFloor | None = None
    for outcome, memory in attempts:
        if outcome == "succeeded":
            successes.append(memory)
            if len(successes) >= auto.history:
                break
        elif outcome == "oom_killed" and memory:
            above = [m for m in successes if m is not None and m > memory]
            floor = min(above) if above else next_size(auto, profile, memory) or ceiling(auto, profile)
            if best is None or floor > best.floor_bytes:
                best = OomFloor(memory, floor, len(successes), auto.history - len(successes))
    return best


def decide(auto: AutoMemory, profile: ComputeProfile, peaks_mib: Sequence[float], learned: OomFloor | None = None) -> MemoryDecision:
    """The memory a step of ``profile`` gets from its recent peaks (newest first) and what its
    out-of-memory kills taught (``learned_floor``)."""
    decision = _from_peaks(auto, profile, peaks_mib)
    if learned is None or decision.memory_bytes >= learned.floor_bytes:
        return decision
    floor = _fit(profile, min(learned.floor_bytes, ceiling(auto, profile)))
    if floor <= decision.memory_bytes:
        return decision
    return replace(decision, memory_bytes=floor, declared=False, reason=f"{decision.reason}; {learned.describe()}")


def _from_peaks(auto: AutoMemory, profile: ComputeProfile, peaks_mib: Sequence[float]) -> MemoryDecision:
    recent = list(peaks_mib[: auto.history])
    if len(recent) < auto.min_runs:
        why = f"declared profile '{profile.name}' ({profile.memory}): {len(recent)} of {auto.min_runs} runs with recorded peaks"
        return MemoryDecision(_fit(profile, profile.memory_bytes), why, len(recent), declared=True)
    peak = p95(recent)
    wanted = math.ceil(peak * (1 + auto.margin) * MIB / STEP) * STEP
    low, high = auto.min_bytes, ceiling(auto, profile)
    bounded = min(max(wanted, low), high)
    why = f"p95 {_readable(peak * MIB)} over {len(recent)} runs × {1 + auto.margin:g}"
    if bounded != wanted:
        why += f" = {_readable(wanted)}, {'raised to the minimum' if wanted < low else 'capped at the maximum'} {quantity(bounded)}"
    chosen = _fit(profile, bounded)
    if chosen != bounded:
        why += f"; {_ladder(profile).holder(profile, bounded)} holds it"
    return MemoryDecision(chosen, why, len(recent), round(peak, 1))


def _ladder(profile: ComputeProfile) -> SizeLadder:
    ladder = backend_of(profile).ladder
    if ladder is None:  # AutoMemory.problems refuses such a declaration at load
        raise ValueError(f"compute profile '{profile.name}': the {profile.backend} backend has no sizes for automatic memory")
    return ladder


def ceiling(auto: AutoMemory, profile: ComputeProfile) -> int:
    """The most a step may get: its declared maximum, within what one node (or instance type) holds."""
    return _ladder(profile).ceiling(profile, auto.max_bytes(profile))


def next_size(auto: AutoMemory, profile: ComputeProfile, current_bytes: int) -> int | None:
    """One size up after an out-of-memory kill, or None if the maximum is reached."""
    return _ladder(profile).next(profile, current_bytes, ceiling(auto, profile))


def _fit(profile: ComputeProfile, memory_bytes: int) -> int:
    """The size the backend really gives (SageMaker sizes come in instance types)."""
    return _ladder(profile).fit(profile, memory_bytes)


def sized_profile(profile: ComputeProfile, decision: MemoryDecision) -> ComputeProfile:
    """The profile with the decided memory, the node pool that fits it, or the instance type that holds it."""
    return profile if decision.declared else _ladder(profile).sized(profile, decision.memory)


def _readable(memory_bytes: float) -> str:
    return f"{memory_bytes / GIB:.1f} GiB" if memory_bytes >= GIB else f"{memory_bytes / MIB:.0f} MiB"
