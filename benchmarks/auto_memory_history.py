"""Sizes automatic memory would choose over a 14-day history of the example products, and the memory saved.

Step 1 measures: every example product is materialized for ``--measured-days`` daily partitions
on a temporary local instance, so ``step_metrics`` records each step's real peak memory. Step 2
simulates the history: day by day for ``--days`` days, each Kubernetes/SageMaker asset's peak is
its measured peak times a deterministic day-to-day factor (seeded; weekday load ±10%, noise ±5%,
one 60% spike on day 9 to exercise an out-of-memory retry), and the size automatic memory picks
at launch is ``decide`` over the peaks of the days before (its declared ``AutoMemory``, or the
defaults for assets that do not use it yet). A day whose peak exceeds the chosen size counts as
an out-of-memory retry, one size up. Memory saved is against each asset's declared profile, in
GiB-days of requested memory.

    python -m benchmarks.auto_memory_history [--days 14] [--measured-days 2]
"""

import argparse
import json
import os
import random
import tempfile
from datetime import date, timedelta

import dagster as dg

from ml_platform.batch import run_days
from ml_platform.compute.auto_memory import GIB, MIB, AutoMemory, decide, next_size, quantity
from ml_platform.compute.profiles import LOCAL, PROFILES
from ml_platform.compute.rightsizing import step_history
from ml_platform.declaration import declarations
from ml_platform.definitions import build_definitions

FIRST_DAY = date(2026, 3, 1)
SPIKE_DAY = 9


def measured_peaks(defs: dg.Definitions, measured_days: int) -> dict[str, float]:
    """Max recorded peak (MiB) per asset after materializing every product for a few days."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["ML_PLATFORM_DUCKDB_PATH"] = os.path.join(home, "warehouse.duckdb")
        with dg.instance_for_test(temp_dir=home) as instance:
            run_days(defs, instance, [FIRST_DAY + timedelta(days=i) for i in range(measured_days)])
            keys = declarations(defs.resolve_asset_graph())
            return {key.to_user_string(): max(step_history(instance, key, 30).peaks_mib or [0.0]) for key in keys}


def day_factor(rng: random.Random, day: int) -> float:
    weekday = 1.0 + 0.1 * ((day % 7) in (1, 2, 3)) - 0.1 * ((day % 7) in (5, 6))
    spike = 1.6 if day == SPIKE_DAY else 1.0
    return weekday * spike * rng.uniform(0.95, 1.05)


def simulate(defs: dg.Definitions, peaks: dict[str, float], days: int) -> dict:
    assets = {}
    for key, declaration in sorted(declarations(defs.resolve_asset_graph()).items(), key=lambda kv: kv[0].to_user_string()):
        profile = PROFILES[declaration.compute]
        if profile.backend == LOCAL:
            continue
        auto = declaration.memory or AutoMemory()
        rng = random.Random(key.to_user_string())
        history, sizes, retries, requested = [], [], 0, 0.0
        for day in range(days):
            peak = peaks[key.to_user_string()] * day_factor(rng, day)
            size = decide(auto, profile, list(reversed(history))).memory_bytes
            while peak * MIB > size and (bigger := next_size(auto, profile, size)) is not None:
                retries += 1
                size = bigger
            sizes.append(quantity(size))
            requested += size / GIB
            history.append(peak)
        declared = profile.memory_bytes / GIB * days
        assets[key.to_user_string()] = {
            "profile": profile.name,
            "uses_auto_memory": declaration.memory is not None,
            "declared": profile.memory,
            "measured_peak_mib": round(peaks[key.to_user_string()], 1),
            "sizes_by_day": " ".join(sizes),
            "oom_retries": retries,
            "requested_gib_days": round(requested, 1),
            "declared_gib_days": round(declared, 1),
            "saved_fraction": round(1 - requested / declared, 3),
        }
    requested = sum(a["requested_gib_days"] for a in assets.values())
    declared = sum(a["declared_gib_days"] for a in assets.values())
    return {"days": days, "assets": assets, "total": {
        "requested_gib_days": round(requested, 1), "declared_gib_days": round(declared, 1),
        "saved_fraction": round(1 - requested / declared, 3),
    }}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--measured-days", type=int, default=2)
    args = parser.parse_args()
    defs = build_definitions("local")
    print(json.dumps(simulate(defs, measured_peaks(defs, args.measured_days), args.days), indent=2))


if __name__ == "__main__":
    main()
