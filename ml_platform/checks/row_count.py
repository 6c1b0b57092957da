"""History-aware row-count checks: a sudden drop (or spike) against the recent median, and a
gradual decline that no single day's step reveals.

Static bounds cannot see a table that loses a few rows every day; these checks compare each
partition with the latest row counts of the partitions before it, read from the IO manager's
``dagster/partition_row_count`` (or ``dagster/row_count``) materialization metadata. The
logic is pure functions over ``(partition, rows)`` pairs; ``ml_platform.checks.quality_checks``
reads the history (one storage call) and turns verdicts into asset check results.
"""

from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from statistics import median
from typing import Iterable, Sequence

from ml_platform.checks.verdict import ERROR, PASS, WARN, Verdict
from ml_platform.declaration import RowCountPolicy

CHANGE_CHECK = "row_count_change"
DECLINE_CHECK = "row_count_decline"
ROW_COUNT_KEYS = ("dagster/partition_row_count", "dagster/row_count")

MIN_HISTORY = 3  # previous partitions needed before a median means anything (capped by policy.history)
MIN_DECLINE_POINTS = 4  # partitions, current included, needed to call a trend
DECLINE_START_POINTS = 3  # the window's start level is the median of its first points (robust to one outlier)
SUSTAINED_SHARE = 0.5  # at least this share of day-to-day steps in the window must be falls
WEEK = 7


def history_span(policy: RowCountPolicy) -> int:
    """Earlier partitions the checks need: the median's history (same weekdays: whole weeks) and
    the decline window."""
    return max(policy.history * (WEEK if policy.weekly_seasonality else 1), policy.decline_window)


def _weekday(partition: str | None) -> int | None:
    try:
        return date.fromisoformat(partition[:10]).weekday() if partition else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Count:
    """The latest row count of one partition (``partition`` None for an unpartitioned table)."""

    partition: str | None
    rows: int


def latest_counts(records: Iterable[tuple[str | None, int | None]]) -> list[Count]:
    """Newest-first ``(partition, rows)`` pairs → the latest count per partition, oldest partition
    first. A re-materialized partition counts once, with its newest row count."""
    seen: dict[str, int] = {}
    unpartitioned: list[Count] = []  # every materialization of an unpartitioned table is a point
    for partition, rows in records:
        if rows is None:
            continue
        if partition is None:
            unpartitioned.append(Count(None, int(rows)))
        elif partition not in seen:
            seen[partition] = int(rows)
    return [*reversed(unpartitioned), *(Count(p, r) for p, r in sorted(seen.items()))]


def split_history(counts: Sequence[Count], partition: str | None) -> tuple[Count | None, list[Count]]:
    """The current partition's count and the counts of the partitions before it (oldest first)."""
    if partition is None:
        unpartitioned = [c for c in counts if c.partition is None]
        return (unpartitioned[-1], unpartitioned[:-1]) if unpartitioned else (None, [])
    current = next((c for c in counts if c.partition == partition), None)
    return current, [c for c in counts if c.partition is not None and c.partition < partition]


def _history_metadata(history: Sequence[Count]) -> dict:
    labels = [c.partition or f"materialization {i - len(history)}" for i, c in enumerate(history)]
    return {"history": dict(zip(labels, (c.rows for c in history), strict=True)), "history_size": len(history)}


def assess_change(current: Count | int, history: Sequence[Count], policy: RowCountPolicy) -> Verdict:
    """Sudden drop or spike of ``current`` against the median of the last ``policy.history``
    counts (with weekly seasonality: of the last ``history`` same weekdays)."""
    current = current if isinstance(current, Count) else Count(None, current)
    candidates = list(history)
    weekday = _weekday(current.partition) if policy.weekly_seasonality else None
    if weekday is not None:
        candidates = [c for c in candidates if _weekday(c.partition) == weekday]
    used = candidates[-policy.history :]
    same = " same-weekday" if weekday is not None else ""
    needed = min(MIN_HISTORY, policy.history)
    metadata = {"rows": current.rows, **_history_metadata(used), "warn_drop": policy.warn_drop, "error_drop": policy.error_drop}
    if len(used) < needed:
        return Verdict(
            CHANGE_CHECK, PASS, f"insufficient history: {len(used)} earlier{same} partition(s), {needed} needed", metadata
        )
    reference = median(c.rows for c in used)
    change = (current.rows - reference) / reference if reference else 0.0
    metadata.update({"median": float(reference), "change": round(change, 4)})
    described = f"{current.rows} rows, {change:+.1%} vs the median {reference:g} of the last {len(used)}{same} partitions"
    if -change > policy.error_drop:
        return Verdict(CHANGE_CHECK, ERROR, f"row count dropped: {described}", metadata)
    if -change > policy.warn_drop:
        return Verdict(CHANGE_CHECK, WARN, f"row count dropped: {described}", metadata)
    if change > policy.spike:
        return Verdict(CHANGE_CHECK, WARN, f"row count spiked: {described}", metadata)
    return Verdict(CHANGE_CHECK, PASS, described, metadata)


def assess_decline(series: Sequence[Count], policy: RowCountPolicy) -> Verdict:
    """Gradual decline over the last ``policy.decline_window`` partitions (current last).

    Errors when the current count is more than ``decline_drop`` below the window's start level
    (median of its first points) and the fall is sustained: at least half of the day-to-day steps
    are falls. A one-day level shift is the change check's business, not a trend.
    """
    if policy.weekly_seasonality:
        if len(series) < 2 * WEEK:
            metadata = {**_history_metadata(series), "decline_drop": policy.decline_drop}
            summary = f"insufficient history: {len(series)} partition(s), {2 * WEEK} needed to learn the weekly pattern"
            return Verdict(DECLINE_CHECK, PASS, summary, metadata)
        series = deseasonalized(series)
    window = list(series)[-policy.decline_window :]
    metadata = {**_history_metadata(window), "decline_drop": policy.decline_drop}
    if len(window) < MIN_DECLINE_POINTS:
        return Verdict(
            DECLINE_CHECK, PASS, f"insufficient history: {len(window)} partition(s), {MIN_DECLINE_POINTS} needed", metadata
        )
    rows = [c.rows for c in window]
    start = median(rows[:DECLINE_START_POINTS])
    fall = 1 - rows[-1] / start if start else 0.0
    steps = len(rows) - 1
    falls = sum(1 for before, after in pairwise(rows) if after < before)
    metadata.update({"start_level": float(start), "fall": round(fall, 4), "falling_steps": f"{falls}/{steps}"})
    described = f"{rows[-1]} rows, {fall:.1%} below the start level {start:g} of the last {len(rows)} partitions ({falls}/{steps} steps fell)"
    if fall > policy.decline_drop and falls >= SUSTAINED_SHARE * steps:
        return Verdict(DECLINE_CHECK, ERROR, f"row count declining: {described}", metadata)
    return Verdict(DECLINE_CHECK, PASS, described, metadata)


def deseasonalized(series: Sequence[Count]) -> list[Count]:
    """Each count divided by its weekday's factor (median of that weekday / median of all), so a
    weekend dip is not a decline. Weekdays seen fewer than twice keep factor 1."""
    overall = median(c.rows for c in series) if series else 0
    by_day: dict[int | None, list[int]] = {}
    for c in series:
        by_day.setdefault(_weekday(c.partition), []).append(c.rows)
    factors = {d: median(rows) / overall if overall and d is not None and len(rows) >= 2 else 1.0 for d, rows in by_day.items()}
    return [replace(c, rows=round(c.rows / (factors[_weekday(c.partition)] or 1.0))) for c in series]


def assess_row_counts(counts: Sequence[Count], partition: str | None, policy: RowCountPolicy) -> list[Verdict]:
    """Both row-count verdicts for ``partition`` given the latest count of each partition."""
    current, history = split_history(counts, partition)
    if current is None:
        summary = f"no row count recorded for partition {partition or '-'} (does the IO manager write dagster/partition_row_count?)"
        return [Verdict(CHANGE_CHECK, WARN, summary), Verdict(DECLINE_CHECK, WARN, summary)]
    return [assess_change(current, history, policy), assess_decline([*history, current], policy)]
