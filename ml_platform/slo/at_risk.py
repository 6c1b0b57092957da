"""Will today's partition land before its deadline? Predictions and drift, before a breach.

Pure functions over what the SLO sensor already read; the sensor turns them into
``slo_at_risk`` alerts.

*Prediction.* A table not yet fresh for its next deadline is predicted to land at

    finish(T) = start(T) + d(T)

where ``d(T)`` is its expected duration (``expected_duration`` over its last ``P90_SAMPLES`` step
durations: start-up plus the step's wall time, recorded for each attempt by ``compute.step_metrics``) and ``start(T)`` is:

* its run's start, if the run for that date is running and has not yet taken ``d(T)``;
* now, if the run is overdue (it may be stuck: only a new run started now is sure to land, so a
  stuck run is warned no later than a run that never started), or if no run is running;
* never before the predicted finish of its slowest unfinished upstream (same date), predicted
  the same way up the chain. That chain of slowest upstreams is the *critical path* an alert shows.

A table whose own run for the date failed for good (no run retry coming), or that waits for such
an upstream, is *blocked*: it lands only after someone re-runs it, so it is at risk whatever the
clock says. Tables without recorded durations are not predicted (unless blocked).

*Drift.* The completion time of each daily table for its last ``TREND_DAYS`` deadlines
(minutes before or after the deadline) is fitted with a least-squares line. A table drifts when
the line rises by at least ``MIN_SLOPE_MINUTES`` a day, explains the points (r² ≥ ``MIN_R2``),
its last completion was still on time, and the line crosses the deadline within
``TREND_HORIZON_DAYS``: a warning days before the first miss.
"""

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from math import ceil, inf

from ml_platform.declaration import MLAsset
from ml_platform.slo.deadlines import Materialization, counts_for, deadlines_between

P90_SAMPLES = 10
TREND_DAYS = 14
TREND_MIN_POINTS = 7
TREND_HORIZON_DAYS = 7
MIN_SLOPE_MINUTES = 1.0
MIN_R2 = 0.5
MARGIN = timedelta(minutes=10)  # at risk when predicted to land later than the deadline minus this
HISTORY_SPAN = timedelta(days=TREND_DAYS + 1)  # what a history refresh reads
HISTORY_REFRESH = timedelta(hours=6)  # durations and daily completions change slowly


def p90(values: Iterable[float]) -> float | None:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[ceil(0.9 * len(ordered)) - 1] if ordered else None


def expected_duration(durations: list[float]) -> float | None:
    """How long the next run takes, from a table's recent durations (oldest first).

    The p90 of the last ``P90_SAMPLES``; with fewer, the p90 is the maximum, so one slow first
    run would predict every next day late: the lower median of what there is instead (one slow
    run out of two already counts for nothing)."""
    recent = durations[-P90_SAMPLES:]
    if len(recent) >= P90_SAMPLES:
        return p90(recent)
    ordered = sorted(recent)
    return ordered[(len(ordered) - 1) // 2] if ordered else None


@dataclass(frozen=True)
class Drift:
    slope_minutes: float  # later each day
    last_minutes: float  # the last completion, minutes relative to the deadline (negative: before)
    crosses_in_days: float  # when the fitted line reaches the deadline
    days: int  # completions fitted


def detect_drift(points: list[tuple[float, float]]) -> Drift | None:
    """``points``: (day number, minutes relative to the deadline), oldest first."""
    if len(points) < TREND_MIN_POINTS:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    r2 = slope * slope * sxx / syy
    fitted_last = mean_y + slope * (xs[-1] - mean_x)
    if slope < MIN_SLOPE_MINUTES or r2 < MIN_R2 or ys[-1] > 0 or fitted_last > 0:
        return None
    crosses = -fitted_last / slope
    if crosses > TREND_HORIZON_DAYS:
        return None
    return Drift(round(slope, 2), round(ys[-1], 1), round(crosses, 1), len(points))


@dataclass
class History:
    """What a prediction needs from the past, rebuilt every ``HISTORY_REFRESH`` from one read."""

    computed_at: float
    p90: dict[str, float] = field(default_factory=dict)  # asset -> expected duration, seconds (expected_duration)
    drifting: dict[str, Drift] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"computed_at": self.computed_at, "p90": self.p90, "drifting": {a: asdict(d) for a, d in self.drifting.items()}},
            separators=(",", ":"),
        )

    @staticmethod
    def from_json(text: str) -> "History":
        data = json.loads(text)
        return History(data["computed_at"], data["p90"], {a: Drift(**d) for a, d in data["drifting"].items()})

    def is_stale(self, now: datetime) -> bool:
        return now.timestamp() - self.computed_at >= HISTORY_REFRESH.total_seconds()


def build_history(materializations: list[Materialization], declared: Mapping[str, MLAsset], now: datetime,
                  durations: Mapping[str, list[float]] | None = None) -> History:
    """From the materializations of the last ``HISTORY_SPAN`` (oldest first) and each asset's step
    durations (``instance_reads.step_durations``: start-up plus wall time, oldest first; without
    them, the durations the materializations carry)."""
    by_asset: dict[str, list[Materialization]] = defaultdict(list)
    for m in materializations:
        if m.asset in declared:
            by_asset[m.asset].append(m)
    history = History(computed_at=now.timestamp())
    for asset, found in by_asset.items():
        expected = expected_duration(durations.get(asset, []) if durations is not None else [m.duration for m in found if m.duration is not None])
        if expected is not None:
            history.p90[asset] = expected
        declaration = declared[asset]
        if declaration.slo.is_daily and declaration.partition_column:
            drift = detect_drift(completions(declaration, found, now))
            if drift is not None:
                history.drifting[asset] = drift
    return history


def completions(declaration: MLAsset, found: list[Materialization], now: datetime) -> list[tuple[float, float]]:
    """(day number, minutes relative to the deadline) of the first counting materialization for
    each of the last ``TREND_DAYS`` deadlines; a deadline with none is left out."""
    points = []
    for deadline in deadlines_between(declaration, now - timedelta(days=TREND_DAYS), now):
        first = min((m.timestamp for m in found if counts_for(declaration, deadline, m)), default=None)
        if first is not None:
            points.append((deadline.timestamp() / 86400, (first - deadline.timestamp()) / 60))
    return points


@dataclass(frozen=True)
class Step:
    asset: str
    finish: float  # predicted, unix time (inf when blocked)
    p90: float | None  # its expected duration, seconds
    started: float | None  # its run's start, if running
    overdue: bool = False  # its run has taken longer than expected: it may be stuck
    failed: tuple[str, float | None] | None = None  # (run id, end) of its run that failed for good


@dataclass(frozen=True)
class Prediction:
    finish: float  # inf when blocked
    path: tuple[Step, ...]  # the critical path, upstream first, ending with the table itself

    @property
    def blocked(self) -> Step | None:
        """The step on the path whose run failed for good: nothing lands before it is re-run."""
        return next((step for step in self.path if step.failed is not None), None)


class Predictor:
    """Predicts finishes over the asset graph for one tick (memoised per asset and date).

    ``landed(asset, partition)``: has that upstream partition landed (True when unknown);
    ``started``: asset -> start of its running run for the date being predicted;
    ``failed``: asset -> (run id, end) of its run for that date that failed with no retry coming.
    """

    def __init__(
        self,
        now: float,
        p90s: Mapping[str, float],
        parents: Callable[[str], Iterable[str]],
        landed: Callable[[str, str | None], bool],
        started: Mapping[str, float] | None = None,
        failed: Mapping[str, tuple[str, float | None]] | None = None,
    ):
        self.now, self.p90s, self.parents, self.landed = now, p90s, parents, landed
        self.started, self.failed = started or {}, failed or {}
        self._memo: dict[tuple[str, str | None], Prediction | None] = {}

    def predict(self, asset: str, partition: str | None) -> Prediction | None:
        """When ``asset``'s ``partition`` lands (the caller knows it has not landed yet)."""
        if (asset, partition) not in self._memo:
            self._memo[(asset, partition)] = self._predict(asset, partition)
        return self._memo[(asset, partition)]

    def _predict(self, asset: str, partition: str | None) -> Prediction | None:
        duration = self.p90s.get(asset)
        if asset in self.failed:
            return Prediction(inf, (Step(asset, inf, duration, None, failed=self.failed[asset]),))
        slowest: Prediction | None = None
        for parent in self.parents(asset):
            if self.landed(parent, partition):
                continue
            upstream = self.predict(parent, partition)
            if upstream is not None and (slowest is None or upstream.finish > slowest.finish):
                slowest = upstream
        if duration is None:
            blocked = slowest is not None and slowest.blocked is not None
            return Prediction(inf, (*slowest.path, Step(asset, inf, None, None))) if blocked else None
        started = self.started.get(asset)
        overdue = started is not None and started + duration < self.now
        finish = started + duration if started is not None and not overdue else self.now + duration
        path: tuple[Step, ...] = ()
        if slowest is not None and slowest.finish + duration > finish:
            finish, path = slowest.finish + duration, slowest.path
        return Prediction(finish, (*path, Step(asset, finish, duration, started, overdue)))


def at_risk(prediction: Prediction | None, deadline: datetime) -> bool:
    return prediction is not None and prediction.finish > (deadline - MARGIN).timestamp()
