"""Memory sizing over 30 days of 300 steps: declared profiles, our sizing, a VPA-style recommender.

Each step has a true peak per day (deterministic, seeded): *steady* (±3%), *spiky* (a day in ten
needs 1.8×), *growing* (+2% a day) and *child* (its peak is in a child process: a compute-only
measurement of the step's own process sees 30% of it). Its duration is fixed per step (±10% a day).
Every policy launches each step each day; an attempt whose size is below the day's true peak is
OOM-killed after 60% of its duration and relaunched (up to 3 relaunches) as the policy says.

- **declared**: the declared profile's memory (the smallest catalog size, 1/2/4/8/16/32 GiB,
  holding 1.5× the step's first-day peak: a team's guess with headroom); a kill fails the day.
- **ours**: ``auto_memory.decide`` over the recorded whole-step peaks of the last 30 successful
  runs, with ``learned_floor`` from the step's OOM kills, relaunching at ``next_size`` (the code the
  routing executor runs, with each step's ``AutoMemory(max=32Gi)``).
- **ours, compute-only peaks**: the same, without OOM learning and with the peak the old
  measurement recorded (a child-process step's parent only): what the platform did before.
- **VPA-style**: the Kubernetes VPA recommender's rules — target = p90 of a decaying histogram of
  daily peaks (24 h half-life) × 1.15; an OOM kill adds a sample at max(1.2 × limit, limit + 100 MiB)
  and the relaunch takes the new target; no history: the declared request.

Reported per policy: OOM kills per day, repeated kills (a kill whose need was no larger than a need
that already caused a kill of the same step), failed step-days, and GiB-hours requested (every
attempt, killed ones until their kill) ÷ GiB-hours of the true peaks (each successful step-day's
true peak × its duration). A simulation of the sizing rules (no Dagster runs: no timings).

    python -m benchmarks.sizing_30_days [--steps 300] [--days 30] [--seed 24]
"""

import argparse
import json
import math
import random
from dataclasses import dataclass, field

from ml_platform.compute.auto_memory import MIB, AutoMemory, decide, learned_floor, next_size
from ml_platform.compute.backends.kubernetes import KubernetesOptions
from ml_platform.compute.profiles import ComputeProfile

GIB_MIB = 1024
KINDS = ("steady", "spiky", "growing", "child")
CATALOG_GIB = (1, 2, 4, 8, 16, 32)
KILLED_AT = 0.6  # an OOM kill comes this far into the step's run
RELAUNCHES = 3


@dataclass
class Step:
    kind: str
    base_mib: float
    hours: float
    seed: int
    declared_mib: float = 0.0

    def need(self, day: int) -> float:
        rng = random.Random(self.seed * 1000 + day)
        noise = 1 + rng.uniform(-0.03, 0.03)
        if self.kind == "spiky" and rng.random() < 0.1:
            return self.base_mib * 1.8 * noise
        if self.kind == "growing":
            return self.base_mib * (1 + 0.02 * day) * noise
        return self.base_mib * noise

    def duration(self, day: int) -> float:
        return self.hours * (1 + random.Random(self.seed * 7919 + day).uniform(-0.1, 0.1))

    def measured(self, need: float, compute_only: bool) -> float:
        return need * 0.3 if compute_only and self.kind == "child" else need


def steps(count: int, seed: int) -> list[Step]:
    rng = random.Random(seed)
    found = []
    for i in range(count):
        base = min(max(math.exp(rng.gauss(math.log(1200), 0.9)), 200), 12000)
        step = Step(KINDS[i % len(KINDS)], base, min(max(math.exp(rng.gauss(math.log(0.5), 0.8)), 0.05), 6), seed * 10_000 + i)
        step.declared_mib = next(g * GIB_MIB for g in CATALOG_GIB if g * GIB_MIB >= 1.5 * step.need(0))
        found.append(step)
    return found


@dataclass
class Tally:
    kills: int = 0
    repeated: int = 0
    failed_days: int = 0
    requested_gib_h: float = 0.0
    true_gib_h: float = 0.0
    killed_needs: dict[int, list[float]] = field(default_factory=dict)

    def attempt(self, step: Step, day: int, size_mib: float, need: float) -> bool:
        """One launch: True if it held the day's need."""
        ok = size_mib >= need
        self.requested_gib_h += size_mib / GIB_MIB * step.duration(day) * (1 if ok else KILLED_AT)
        if not ok:
            self.kills += 1
            earlier = self.killed_needs.setdefault(step.seed, [])
            self.repeated += any(need <= e for e in earlier)
            earlier.append(need)
        else:
            self.true_gib_h += need / GIB_MIB * step.duration(day)
        return ok

    def summary(self, days: int) -> dict:
        return {
            "oom_kills_per_day": round(self.kills / days, 2),
            "repeated_oom_kills": self.repeated,
            "failed_step_days": self.failed_days,
            "requested_over_true_peak_gib_hours": round(self.requested_gib_h / self.true_gib_h, 3),
        }


def declared_policy(all_steps: list[Step], days: int) -> Tally:
    tally = Tally()
    for step in all_steps:
        for day in range(days):
            if not tally.attempt(step, day, step.declared_mib, step.need(day)):
                tally.failed_days += 1
    return tally


def ours_policy(all_steps: list[Step], days: int, learn: bool = True, compute_only: bool = False, margin: float = 0.3,
                min_runs: int = 5) -> Tally:
    tally = Tally()
    auto = AutoMemory(min="256Mi", max="32Gi", margin=margin, min_runs=min_runs)
    for step in all_steps:
        profile = ComputeProfile("declared", "kubernetes", cpu="1", memory=f"{int(step.declared_mib)}Mi", options=KubernetesOptions(node_pool="highmem"))
        peaks: list[float] = []  # newest first
        attempts: list[tuple[str, int | None]] = []  # newest first
        for day in range(days):
            need = step.need(day)
            floor = learned_floor(auto, profile, attempts) if learn else None
            size = decide(auto, profile, peaks, floor).memory_bytes
            for _ in range(RELAUNCHES + 1):
                if tally.attempt(step, day, size / MIB, need):
                    attempts.insert(0, ("succeeded", size))
                    peaks.insert(0, step.measured(need, compute_only))
                    break
                attempts.insert(0, ("oom_killed", size))
                bigger = next_size(auto, profile, size)
                if bigger is None:
                    tally.failed_days += 1
                    break
                size = bigger
            else:
                tally.failed_days += 1
    return tally


def vpa_target(samples: list[tuple[float, float]], now: float) -> float:
    """p90 of the decaying histogram (24 h half-life) × 1.15; ``samples``: (day, MiB)."""
    weighted = sorted((mib, 0.5 ** (now - day)) for day, mib in samples)
    total, running = sum(w for _, w in weighted), 0.0
    for mib, weight in weighted:
        running += weight
        if running >= 0.9 * total:
            return max(mib * 1.15, 256)
    return 256


def vpa_policy(all_steps: list[Step], days: int) -> Tally:
    tally = Tally()
    for step in all_steps:
        samples: list[tuple[float, float]] = []
        for day in range(days):
            need = step.need(day)
            size = vpa_target(samples, day) if samples else step.declared_mib
            for _ in range(RELAUNCHES + 1):
                if tally.attempt(step, day, size, need):
                    samples.append((day, need))
                    break
                samples.append((day, max(size * 1.2, size + 100)))  # the OOM bump
                size = vpa_target(samples, day)
            else:
                tally.failed_days += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--margin", type=float, default=AutoMemory().margin, help="AutoMemory margin for 'ours' (default: its default)")
    parser.add_argument("--min-runs", type=int, default=AutoMemory().min_runs, help="AutoMemory min_runs for 'ours'")
    args = parser.parse_args()
    tuned = {"margin": args.margin, "min_runs": args.min_runs}
    all_steps = steps(args.steps, args.seed)
    result = {
        "steps": args.steps,
        "days": args.days,
        "kinds": {k: sum(s.kind == k for s in all_steps) for k in KINDS},
        "declared": declared_policy(all_steps, args.days).summary(args.days),
        "ours_settings": tuned,
        "ours": ours_policy(all_steps, args.days, **tuned).summary(args.days),
        "ours_compute_only_peaks_no_oom_learning": ours_policy(all_steps, args.days, learn=False, compute_only=True).summary(args.days),
        "vpa_style": vpa_policy(all_steps, args.days).summary(args.days),
    }
    by_kind = {}
    for kind in KINDS:
        chosen = [s for s in all_steps if s.kind == kind]
        by_kind[kind] = {"ours": ours_policy(chosen, args.days, **tuned).summary(args.days),
                         "vpa_style": vpa_policy(chosen, args.days).summary(args.days)}
    result["by_kind"] = by_kind
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
