"""Verdicts of the ``prediction_drift`` and ``prediction_coverage`` checks for one partition.

``judge`` takes the partition's rows and the recorded summaries of earlier partitions, so the same
code serves the check op inside a run and the replays over hundreds of generated days.

Each statistic is compared twice:

* with the pinned reference (``monitoring.reference``): a lasting break keeps failing until it is
  repaired or re-pinned, and a slow creep fails once it has added up;
* day over day, with the partitions just before: that comparison counts only when today moved
  further from the pinned reference than those partitions were, so the day a break is repaired
  (a big change back toward the reference) passes, and so does a legitimate change that was re-pinned.

A comparison fails when its effect passes a band (PSI 0.1 / 0.25; coverage and fallback shares 5 /
15 points) AND is significant: its test's p-value is below ``significance`` split evenly over the
comparisons made (Bonferroni), so a stable table fails a check with at most that probability per
partition, however small it is. A statistic with fewer than ``min_rows`` rows is not judged.
"""

from dataclasses import dataclass, field, replace
from typing import Sequence

import pandas as pd

from ml_platform.monitoring.coverage import CoverageCounts, count_coverage
from ml_platform.monitoring.drift import Drift, judged, measure_drift, one_sided_proportion_pvalue
from ml_platform.monitoring.reference import PartitionSummary, Pin, describe_window, is_first_after_retrain, windows
from ml_platform.monitoring.settings import Monitoring
from ml_platform.monitoring.sketch import Sketch
from ml_platform.monitoring.statistics import measure_statistics

DRIFT_CHECK = "prediction_drift"
COVERAGE_CHECK = "prediction_coverage"
ORDER = {None: 0, "WARN": 1, "ERROR": 2}
# A passed result that judged nothing (too few rows, no reference yet): it neither fails nor
# resolves an open incident (``checks.monitoring_incidents``).
JUDGED = "judged"  # metadata: False on such a result


@dataclass(frozen=True)
class Assessment:
    check: str
    severity: str | None  # None: passed
    summary: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Judgement:
    summary: PartitionSummary  # recorded for later partitions' windows
    drift: Assessment
    coverage: Assessment | None  # None: the table declares nothing to cover
    current: dict[str, Sketch]  # the partition's statistics, exact
    pinned: dict[str, Sketch]  # the pinned window's statistics, merged (for the plot)


def judge(
    frame: pd.DataFrame,
    expected,
    history: dict[str, PartitionSummary],
    pin: Pin | None,
    partition: str,
    settings: Monitoring,
    score_column: str,
    top_k: int | None = None,
) -> Judgement:
    """Both checks' verdicts for ``partition`` (rows ``frame``, expected entities ``expected``)."""
    current = measure_statistics(frame, score_column, settings, top_k)
    counts = count_coverage(frame, settings.entity_column, expected, settings.fallback_column, settings.fallback_score, score_column)
    n = settings.reference_partitions
    pinned, trailing = windows(pin, history, partition, n, DRIFT_CHECK)
    drift = assess_drift(current, pinned, trailing, settings, pin)
    coverage = None
    if settings.has_coverage:
        coverage = assess_coverage(counts, *windows(pin, history, partition, n, COVERAGE_CHECK), settings, pin)
    if is_first_after_retrain(pin, partition):  # judged against the previous model's partitions
        drift = _after_retrain(drift, pin)
        coverage = _after_retrain(coverage, pin) if coverage else None
    passed = {DRIFT_CHECK: drift.severity is None, **({COVERAGE_CHECK: coverage.severity is None} if coverage else {})}
    summary = PartitionSummary(partition, len(frame), {name: s.compact() for name, s in current.items()}, counts, passed)
    merged = {name: Sketch.merge([s.statistics.get(name) for s in pinned]) for name in current}
    return Judgement(summary, drift, coverage, current, {k: v for k, v in merged.items() if v is not None})


def _after_retrain(assessment: Assessment, pin: Pin) -> Assessment:
    """The first partition of a new model moved from the previous model's: a WARN to look at, never
    an ERROR that holds its consumers (the retraining re-pins the reference to it)."""
    if assessment.severity is None:
        return assessment
    summary = f"first partition after {pin.reason.removeprefix('model ')}, vs the previous model's partitions: {assessment.summary}"
    return replace(assessment, severity="WARN", summary=summary)


def _worst(*severities: str | None) -> str | None:
    return max(severities, key=ORDER.__getitem__)


def _reference_text(pin: Pin | None, pinned: list, trailing: list) -> dict:
    return {
        "reference": pin.describe() if pin else "no pin: day over day only",
        "pinned_window": describe_window(pinned),
        "day_over_day_window": describe_window(trailing),
    }


def assess_drift(
    current: dict[str, Sketch], pinned: list[PartitionSummary], trailing: list[PartitionSummary], settings: Monitoring, pin: Pin | None = None
) -> Assessment:
    """Worst statistic (score, segments, rank-k score, item mix) against both windows."""
    windows_text = _reference_text(pin, pinned, trailing)
    if not trailing and not pinned:
        return Assessment(DRIFT_CHECK, None, "no earlier partition to compare with yet", {**windows_text, "note": "no reference yet", JUDGED: False})
    judged_names = [name for name, s in current.items() if s.rows >= settings.min_rows]
    small = {name: int(s.rows) for name, s in current.items() if name not in judged_names}
    separate = [s.partition for s in pinned] != [s.partition for s in trailing]
    comparisons = (1 if pinned else 0) + (1 if trailing and (separate or not pinned) else 0)
    alpha = settings.significance / max(len(judged_names) * comparisons, 1)
    results = {}
    for name in judged_names:
        pin_ref = Sketch.merge([s.statistics.get(name) for s in pinned])
        dod_ref = Sketch.merge([s.statistics.get(name) for s in trailing])
        vs_pin = measure_drift(pin_ref, current[name]) if pin_ref is not None else None
        vs_dod = measure_drift(dod_ref, current[name]) if dod_ref is not None and (separate or vs_pin is None) else None
        sev_pin = judged(vs_pin.psi, vs_pin.pvalue, settings.psi_warn, settings.psi_error, alpha) if vs_pin else None
        away = vs_pin is None or vs_dod is None or vs_pin.psi > measure_drift(pin_ref, dod_ref).psi
        sev_dod = judged(vs_dod.psi, vs_dod.pvalue, settings.psi_warn, settings.psi_error, alpha) if vs_dod and away else None
        results[name] = (_worst(sev_pin, sev_dod), vs_pin, vs_dod, "pinned" if ORDER[sev_pin] >= ORDER[sev_dod] else "day over day")
    if not results:
        note = f"too few rows to judge ({', '.join(f'{k}: {v}' for k, v in small.items())}; minimum {settings.min_rows})"
        return Assessment(DRIFT_CHECK, None, note, {**windows_text, "note": note, JUDGED: False})

    def rank(item):
        sev, vs_pin, vs_dod, _ = item[1]
        return ORDER[sev], (vs_pin or vs_dod).psi

    worst_name, (sev, vs_pin, vs_dod, by) = max(results.items(), key=rank)
    main: Drift = vs_pin if (by == "pinned" and vs_pin) else (vs_dod or vs_pin)
    metadata = {
        **windows_text,
        "statistic": "PSI on the reference's deciles (categories for text and item mix); chi-square p-value must be below the significance",
        "worst_statistic": worst_name,
        "failed_by": by if sev else None,
        "psi": round(main.psi, 4),
        "pvalue": float(f"{main.pvalue:.3g}"),
        "significance_per_comparison": float(f"{alpha:.3g}"),
        "rows": int(current[worst_name].rows),
        "top_shifted_bins": main.top_bins,
        "psi_by_statistic": {
            name: {k: round(d.psi, 4) for k, d in (("pinned", r[1]), ("day_over_day", r[2])) if d is not None} for name, r in results.items()
        },
        **({"unseen_categories": main.unseen[:20]} if main.unseen else {}),
        **({"not_judged": small} if small else {}),
    }
    window = windows_text["pinned_window"] if main is vs_pin else windows_text["day_over_day_window"]
    text = f"PSI {main.psi:.3f} on {worst_name} vs the {'pinned reference' if main is vs_pin else 'previous partitions'} {window}, p={main.pvalue:.2g}"
    if vs_pin is not None and vs_dod is not None:
        text += f"; day over day {vs_dod.psi:.3f}"
    if main.unseen:
        text += f"; unseen: {', '.join(main.unseen[:5])}"
    return Assessment(DRIFT_CHECK, sev, f"{text} (warn {settings.psi_warn}, error {settings.psi_error})", metadata)


@dataclass(frozen=True)
class _Share:
    """One coverage share: ``hits`` of ``rows`` (attributes of CoverageCounts)."""

    name: str
    hits: str
    rows: str
    higher_is_bad: bool
    warn: float
    error: float

    def of(self, counts: CoverageCounts | None) -> float | None:
        rows = getattr(counts, self.rows) if counts is not None else None
        return getattr(counts, self.hits) / rows if rows else None

    def bad_change(self, share: float | None, reference: float | None) -> float | None:
        if share is None or reference is None:
            return None
        return share - reference if self.higher_is_bad else reference - share

    def verdict(self, change: float | None, current: CoverageCounts, reference: CoverageCounts | None, alpha: float):
        if change is None:
            return None, None
        p = one_sided_proportion_pvalue(
            getattr(current, self.hits), getattr(current, self.rows), getattr(reference, self.hits), getattr(reference, self.rows), self.higher_is_bad
        )
        return judged(change, p, self.warn, self.error, alpha), p


def assess_coverage(
    current: CoverageCounts, pinned: Sequence[PartitionSummary], trailing: Sequence[PartitionSummary], settings: Monitoring, pin: Pin | None = None
) -> Assessment:
    """Fall of the covered share and rise of the fallback share, against both windows."""
    pin_counts = CoverageCounts.pooled([s.coverage for s in pinned])
    dod_counts = CoverageCounts.pooled([s.coverage for s in trailing])
    separate = [s.partition for s in pinned] != [s.partition for s in trailing]
    shares = []
    if current.expected is not None:
        shares.append(_Share("covered", "covered", "expected", False, settings.coverage_drop_warn, settings.coverage_drop_error))
    if current.fallback is not None:
        shares.append(_Share("fallback", "fallback", "entities", True, settings.fallback_rise_warn, settings.fallback_rise_error))
    judged_shares = [m for m in shares if getattr(current, m.rows) >= settings.min_rows]
    comparisons = (1 if pin_counts else 0) + (1 if dod_counts and (separate or not pin_counts) else 0)
    alpha = settings.significance / max(len(judged_shares) * comparisons, 1)
    metadata = {
        **_reference_text(pin, list(pinned), list(trailing)),
        "statistic": "change of the share vs each window (absolute); one-sided chi-square p-value must be below the significance",
        "covered_share": current.covered_share,
        "fallback_share": current.fallback_share,
        "expected_entities": current.expected,
        "predicted_entities": current.entities,
    }
    worst, compared = None, False
    for m in judged_shares:
        share = m.of(current)
        vs_pin = m.bad_change(share, m.of(pin_counts))
        vs_dod = m.bad_change(share, m.of(dod_counts)) if separate or pin_counts is None else None
        window_vs_pin = m.bad_change(m.of(dod_counts), m.of(pin_counts))
        sev_pin, p_pin = m.verdict(vs_pin, current, pin_counts, alpha)
        away = vs_pin is None or window_vs_pin is None or vs_pin > window_vs_pin
        sev_dod, p_dod = m.verdict(vs_dod, current, dod_counts, alpha) if away else (None, None)
        sign = 1 if m.higher_is_bad else -1  # metadata: the signed change of the share
        metadata[f"{m.name}_change_vs_pinned"] = None if vs_pin is None else round(sign * vs_pin, 4)
        metadata[f"{m.name}_change_vs_day_over_day"] = None if vs_dod is None else round(sign * vs_dod, 4)
        metadata[f"{m.name}_pvalue"] = float(f"{min(p for p in (p_pin, p_dod, 1.0) if p is not None):.3g}")
        worst = _worst(worst, sev_pin, sev_dod)
        compared = compared or vs_pin is not None or vs_dod is not None
    if shares and not judged_shares:
        metadata["note"] = f"too few entities to judge (minimum {settings.min_rows})"
    if not compared:  # too few entities, no window yet, or no window with the share: no news
        metadata[JUDGED] = False
    parts = []
    for m in shares:
        change = metadata.get(f"{m.name}_change_vs_pinned")
        share = m.of(current)
        parts.append(f"{m.name} {'-' if share is None else f'{share:.1%}'}" + (f" ({change:+.1%} vs the pinned reference)" if change is not None else ""))
    return Assessment(COVERAGE_CHECK, worst, "; ".join(parts) + (f"; {metadata['note']}" if "note" in metadata else ""), metadata)
