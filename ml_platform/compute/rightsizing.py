"""Recommend each asset's compute profile from the peak memory its steps actually used.

Reads the ``ml_platform/peak_memory_mib`` of every successful step attempt (the attempt records
``step_metrics`` writes: the whole step's peak), takes the p95 over the recent history, adds a safety margin, and picks the
smallest profile of the same backend (and with at least the same GPUs) whose memory holds it.
An asset is *over-provisioned* if a smaller profile fits, *under-provisioned* if the p95 with
margin exceeds its profile's memory (it risks OOM kills). For assets with automatic memory the
report also shows the size their latest step ran with and how many out-of-memory retries
(escalations one size up) their recent steps needed: a steady count means the margin is too thin.
Each recommendation also shows the money it saves per day (negative: what it adds) at the price
sheet's on-demand prices (``pricing``): the hourly price difference × the hours its steps ran per day
of data over the history (start-up plus ``step_duration_s``).

    ml-platform rightsize [--history 30] [--margin 0.25] [--json]
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import dagster as dg

from ml_platform.compute.auto_memory import ESCALATIONS_KEY, MEMORY_KEY, p95
from ml_platform.compute.pricing import PriceSheet, hourly_price, load_price_sheet
from ml_platform.compute.profiles import PROFILES, ComputeProfile
from ml_platform.compute.step_usage import DURATION_KEY, OUTCOME_KEY, PEAK_MEMORY_KEY, STARTUP_KEY, SUCCEEDED

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
    auto_memory: str | None = None  # automatic memory: the size the latest step ran with
    oom_escalations: int = 0  # automatic memory: out-of-memory retries one size up over the history
    saving_usd_per_day: float | None = None  # moving to the recommended profile; None without durations


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


@dataclass(frozen=True)
class StepHistory:
    peaks_mib: list[float]
    latest_memory: str | None
    escalations: int
    durations_s: list[float] = field(default_factory=list)
    days: int = 0  # distinct days of data (partitions; the UTC day for unpartitioned assets) the steps ran for

    @property
    def hours_per_day(self) -> float | None:
        return sum(self.durations_s) / 3600 / self.days if self.durations_s and self.days else None


def daily_saving(current: ComputeProfile, recommended: str | None, steps: StepHistory, sheet: PriceSheet) -> float | None:
    """USD per day saved by running ``recommended`` instead of ``current`` (on-demand prices)."""
    if recommended is None or steps.hours_per_day is None:
        return None
    difference = hourly_price(current, sheet).usd_per_hour - hourly_price(PROFILES[recommended], sheet).usd_per_hour
    return round(difference * steps.hours_per_day, 6)


def step_history(instance: dg.DagsterInstance, key: dg.AssetKey, history: int) -> StepHistory:
    """Peaks (newest first) and durations of recent successful attempts, the latest automatic size
    and the out-of-memory escalations of recent steps."""
    records = [r for r in instance.fetch_materializations(key, limit=history).records if r.asset_materialization]
    metadata = [r.asset_materialization.metadata for r in records]
    sizes = [m[MEMORY_KEY].value for m in metadata if MEMORY_KEY in m]
    observed = instance.fetch_observations(key, limit=3 * history).records  # other observations share the asset
    succeeded = [r for r in observed if _value(r, OUTCOME_KEY) == SUCCEEDED][:history]
    timed = [r for r in succeeded if _value(r, DURATION_KEY) is not None]
    return StepHistory(
        peaks_mib=[float(_value(r, PEAK_MEMORY_KEY)) for r in succeeded if _value(r, PEAK_MEMORY_KEY) is not None],
        latest_memory=sizes[0] if sizes else None,
        escalations=sum(int(m[ESCALATIONS_KEY].value) for m in metadata if ESCALATIONS_KEY in m),
        durations_s=[float(_value(r, DURATION_KEY)) + float(_value(r, STARTUP_KEY) or 0.0) for r in timed],
        days=len({r.partition_key or datetime.fromtimestamp(r.timestamp, timezone.utc).date().isoformat() for r in timed}),
    )


def _value(record, key: str):
    entry = record.asset_observation.metadata.get(key) if record.asset_observation else None
    return entry.value if entry is not None else None


def recommend_all(defs: dg.Definitions, instance: dg.DagsterInstance, history: int = 30, margin: float = 0.25) -> list[Recommendation]:
    from ml_platform.declaration import declarations

    sheet = load_price_sheet()
    recommendations = []
    for key, declaration in sorted(declarations(defs.resolve_asset_graph()).items(), key=lambda kv: kv[0].to_user_string()):
        steps = step_history(instance, key, history)
        profile = PROFILES[declaration.compute]
        recommendation = recommend(key.to_user_string(), profile, steps.peaks_mib, margin)
        recommendations.append(replace(
            recommendation, auto_memory=steps.latest_memory, oom_escalations=steps.escalations,
            saving_usd_per_day=daily_saving(profile, recommendation.recommended, steps, sheet),
        ))
    return recommendations


def format_table(recommendations: Sequence[Recommendation]) -> str:
    header = (f"{'asset':32} {'profile':20} {'runs':>4} {'p95 MiB':>9} {'need MiB':>9} {'recommended':20} {'auto':>7} {'OOM+':>4}"
              f" {'saves USD/day':>13} verdict")
    rows = [
        f"{r.asset:32} {r.profile:20} {r.samples:>4} {_num(r.p95_peak_mib):>9} {_num(r.needed_mib):>9} {r.recommended or '-':20}"
        f" {r.auto_memory or '-':>7} {r.oom_escalations:>4} {_usd(r.saving_usd_per_day):>13} {r.verdict}"
        for r in recommendations
    ]
    return "\n".join([header, *rows])


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.6f}" if abs(value) < 1 else f"{value:+,.2f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
