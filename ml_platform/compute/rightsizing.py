"""Recommend each asset's compute profile from the peak memory its steps actually used.

Reads the ``ml_platform/peak_memory_mib`` metadata that ``step_metrics`` puts on every
materialization, takes the p95 over the recent history, adds a safety margin, and picks the
smallest profile of the same backend (and with at least the same GPUs) whose memory holds it.
An asset is *over-provisioned* if a smaller profile fits, *under-provisioned* if the p95 with
margin exceeds its profile's memory (it risks OOM kills).

    ml-platform rightsize [--history 30] [--margin 0.25] [--json]
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from ml_platform.compute.profiles import PROFILES, ComputeProfile
from ml_platform.compute.step_metrics import PEAK_MEMORY_KEY

MIB = 2**20
OK, OVER, UNDER, NO_DATA = "ok", "over-provisioned", "under-provisioned", "no data"


@dataclass(frozen=True)
class Recommendation:
    asset: str
    profile: str
    samples: int
    p95_peak_mib: float | None
    needed_mib: float | None  # p95 with margin
    recommended: str | None
    verdict: str


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def recommend(asset: str, profile: ComputeProfile, peaks_mib: Sequence[float], margin: float,
              catalog: Mapping[str, ComputeProfile] = PROFILES) -> Recommendation:
    if not peaks_mib:
        return Recommendation(asset, profile.name, 0, None, None, None, NO_DATA)
    peak = p95(peaks_mib)
    needed = peak * (1 + margin)
    candidates = sorted(
        (p for p in catalog.values() if p.backend == profile.backend and p.gpu >= profile.gpu and p.memory_bytes >= needed * MIB),
        key=lambda p: (p.memory_bytes, p.gpu),
    )
    best = candidates[0] if candidates else None
    if profile.memory_bytes < needed * MIB:
        verdict = UNDER
    elif best is not None and best.memory_bytes < profile.memory_bytes:
        verdict = OVER
    else:
        verdict = OK
    return Recommendation(asset, profile.name, len(peaks_mib), round(peak, 1), round(needed, 1), best.name if best else None, verdict)


def peak_history(instance: dg.DagsterInstance, key: dg.AssetKey, history: int) -> list[float]:
    records = instance.fetch_materializations(key, limit=history).records
    peaks = []
    for record in records:
        value = record.asset_materialization.metadata.get(PEAK_MEMORY_KEY) if record.asset_materialization else None
        if value is not None:
            peaks.append(float(value.value))
    return peaks


def recommend_all(defs: dg.Definitions, instance: dg.DagsterInstance, history: int = 30, margin: float = 0.25) -> list[Recommendation]:
    from ml_platform.declaration import declarations

    return [
        recommend(key.to_user_string(), PROFILES[declaration.compute], peak_history(instance, key, history), margin)
        for key, declaration in sorted(declarations(defs.resolve_asset_graph()).items(), key=lambda kv: kv[0].to_user_string())
    ]


def format_table(recommendations: Sequence[Recommendation]) -> str:
    header = f"{'asset':32} {'profile':20} {'runs':>4} {'p95 MiB':>9} {'need MiB':>9} {'recommended':20} verdict"
    rows = [
        f"{r.asset:32} {r.profile:20} {r.samples:>4} {_num(r.p95_peak_mib):>9} {_num(r.needed_mib):>9} {r.recommended or '-':20} {r.verdict}"
        for r in recommendations
    ]
    return "\n".join([header, *rows])


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
