"""Cost-jump alerts: a table whose daily cost rises well above its recent median warns once.

Each tick reads the cost every materialization of the last ``days + 2`` days recorded
(``instance_reads.costs_after``: one paged read across all assets) and sums it per table and day
(the day of data produced, as in the cost report). A table's newest day costs more than
``factor`` × the median of the ``days`` days before it (at least ``MIN_DAYS`` of them, median above
zero) and by at least ``ML_PLATFORM_COST_JUMP_MIN_USD`` (default $1 a day: a step going from
0.002 s to 0.006 s is not news): one WARN, with the cause — the step ran longer, its profile or size changed (a higher hourly
price), or it ran more often (reruns). It resolves when the newest day is back within the factor.

``ML_PLATFORM_COST_JUMP_FACTOR`` (default 2), ``ML_PLATFORM_COST_JUMP_DAYS`` (default 7) and
``ML_PLATFORM_COST_JUMP_MIN_USD`` (default 1) are read at each tick. Every attempt is counted
(``instance_reads.attempts_after``): OOM-killed, preempted and retried attempts cost money too.
"""

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

import dagster as dg

from ml_platform import instance_reads
from ml_platform.alerting import Alert, AlertLedger, Kind, Severity
from ml_platform.alerting.links import asset_url
from ml_platform.alerting.sensor import AlertSensor, Outcome, Tick, alert_sensor
from ml_platform.compute.cost_report import day_of, usd
from ml_platform.compute.step_usage import SUCCEEDED
from ml_platform.declaration import MLAsset

SENSOR_NAME = "cost_jump_alerts"
FACTOR_ENV, DAYS_ENV, MIN_USD_ENV = "ML_PLATFORM_COST_JUMP_FACTOR", "ML_PLATFORM_COST_JUMP_DAYS", "ML_PLATFORM_COST_JUMP_MIN_USD"
DEFAULT_FACTOR, DEFAULT_DAYS, DEFAULT_MIN_USD = 2.0, 7, 1.0
MIN_DAYS = 3  # fewer earlier days with a cost: no median to compare with
CHANGED = 1.2  # a ratio at least this large is named as a cause
DURATION_NOISE_S = 1.0  # a step's wall time varies this much with launch and machine load: not a cause


@dataclass
class DayCost:
    cost: float = 0.0
    runs: int = 0
    duration_s: float = 0.0
    rates: list[float] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)

    @property
    def duration_per_run(self) -> float:
        return self.duration_s / self.runs if self.runs else 0.0

    @property
    def rate(self) -> float:
        return max(self.rates, default=0.0)


def daily_costs(records: list[instance_reads.AttemptRecord]) -> dict[str, dict[date, DayCost]]:
    """Each table's priced attempts summed per day of data; runs and durations count successful attempts."""
    by_table: dict[str, dict[date, DayCost]] = {}
    for record in records:
        if record.cost_usd is None:
            continue
        day = by_table.setdefault(record.asset, {}).setdefault(day_of(record), DayCost())
        day.cost += record.cost_usd
        if record.outcome == SUCCEEDED:
            day.runs += 1
            day.duration_s += record.wall_s or 0.0
        if record.usd_per_hour is not None:
            day.rates.append(record.usd_per_hour)
        if record.size and record.size not in day.sizes:
            day.sizes.append(record.size)
    return by_table


@dataclass(frozen=True)
class CostJudgement:
    day: date
    cost: float
    median: float
    earlier_days: int
    jumped: bool
    cause: str


def judge(days: Mapping[date, DayCost], factor: float, trailing: int, min_increase: float = DEFAULT_MIN_USD) -> CostJudgement | None:
    """The newest day against the median of the ``trailing`` days before it; None without enough history.
    A jump is above ``factor`` × the median and at least ``min_increase`` USD above it."""
    newest = max(days)
    earlier = [days[d] for d in sorted(d for d in days if d < newest)[-trailing:]]
    if len(earlier) < MIN_DAYS:
        return None
    median = statistics.median(d.cost for d in earlier)
    today = days[newest]
    jumped = median > 0 and today.cost > factor * median and today.cost - median >= min_increase
    return CostJudgement(newest, today.cost, median, len(earlier), jumped, cause(today, earlier) if jumped else "")


def cause(today: DayCost, earlier: list[DayCost]) -> str:
    """What made the day cost more: the longer run, the dearer size, the extra runs (largest first)."""
    found = []
    rate = statistics.median(d.rate for d in earlier)
    if rate and today.rate / rate >= CHANGED:
        before = earlier[-1].sizes[-1] if earlier[-1].sizes else "?"
        now = today.sizes[-1] if today.sizes else "?"
        what = f"profile changed: {before} → {now}" if before != now else "price per hour up"
        found.append((today.rate / rate, f"{what} (${rate:.4f}/h → ${today.rate:.4f}/h)"))
    duration = statistics.median(d.duration_per_run for d in earlier)
    if duration and today.duration_per_run / duration >= CHANGED and today.duration_per_run - duration >= DURATION_NOISE_S:
        found.append((today.duration_per_run / duration,
                      f"duration up {today.duration_per_run / duration:.1f}× ({duration:g} s → {today.duration_per_run:g} s per run)"))
    runs = statistics.median(d.runs for d in earlier)
    if runs and today.runs / runs >= CHANGED:
        found.append((today.runs / runs, f"{today.runs} runs against {runs:g} on a usual day (reruns)"))
    if not found:
        return "no single cause: duration, size and runs each changed less than 20%"
    return "; ".join(text for _, text in sorted(found, reverse=True))


def cost_jump_alert(asset: str, judgement: CostJudgement, factor: float, declaration: MLAsset | None, ui_url: str,
                    min_increase: float = DEFAULT_MIN_USD) -> Alert:
    ratio = judgement.cost / judgement.median
    owner = declaration.owner if declaration else None
    return Alert(
        kind=Kind.COST_JUMP,
        severity=Severity.WARN,
        title=f"{asset}: cost on {judgement.day} is {ratio:.1f}× its median; {judgement.cause}",
        asset=asset,
        incident=str(judgement.day),
        owner=owner,
        channel=declaration.alert_channel if declaration else None,
        link=asset_url(ui_url, asset),
        details=(
            ("Cause", judgement.cause),
            ("Cost", f"{usd(judgement.cost)} on {judgement.day}"),
            ("Median", f"{usd(judgement.median)} over the {judgement.earlier_days} days before (alerts above {factor:g}× and"
                       f" {usd(min_increase)} more a day)"),
            *((("Owner", owner),) if owner else ()),
        ),
    )


def evaluate_cost_alerts(
    ledger: AlertLedger, by_table: Mapping[str, Mapping[date, DayCost]], tables: Mapping[str, MLAsset],
    factor: float, trailing: int, ui_url: str, min_increase: float = DEFAULT_MIN_USD,
) -> tuple[int, int]:
    """Open one incident per table whose newest day jumped, resolve it when the day is back. (raised, resolved)."""
    raised = resolved = 0
    for asset, days in sorted(by_table.items()):
        judgement = judge(days, factor, trailing, min_increase)
        subject = Alert(kind=Kind.COST_JUMP, severity=Severity.WARN, title="", asset=asset).subject
        if judgement is None:
            continue
        if judgement.jumped:
            if subject not in ledger.open:  # one warning while the cost stays high, not one per day
                raised += ledger.raise_alert(cost_jump_alert(asset, judgement, factor, tables.get(asset), ui_url, min_increase))
        elif subject in ledger.open:
            resolved += ledger.resolve(
                subject, f"{asset}: cost on {judgement.day} is back to {usd(judgement.cost)} (median {usd(judgement.median)})"
            )
    return raised, resolved


def settings() -> tuple[float, int, float]:
    """The factor, the trailing days and the minimum increase, read at tick time; a bad value names its variable."""
    raw_factor, raw_days = dg.EnvVar(FACTOR_ENV).get_value(), dg.EnvVar(DAYS_ENV).get_value()
    raw_min = dg.EnvVar(MIN_USD_ENV).get_value()
    try:
        factor = float(raw_factor) if raw_factor else DEFAULT_FACTOR
        days = int(raw_days) if raw_days else DEFAULT_DAYS
    except ValueError:
        raise ValueError(f"{FACTOR_ENV}={raw_factor!r} / {DAYS_ENV}={raw_days!r}: expected a number and a whole number of days") from None
    if factor <= 1 or days < MIN_DAYS:
        raise ValueError(f"{FACTOR_ENV} must be above 1 (got {factor:g}) and {DAYS_ENV} at least {MIN_DAYS} (got {days})")
    try:
        min_increase = float(raw_min) if raw_min else DEFAULT_MIN_USD
    except ValueError:
        min_increase = -1.0
    if not min_increase >= 0:
        raise ValueError(f"{MIN_USD_ENV}={raw_min!r}: expected a non-negative number of USD per day, e.g. 1 or 0.5")
    return factor, days, min_increase


def evaluate(tick: Tick) -> Outcome:
    factor, trailing, min_increase = settings()
    tables = {key.to_user_string(): d for key, d in tick.declared.items()}
    records = instance_reads.attempts_after(tick.instance, tick.now - (trailing + 2) * 86400)
    raised, resolved = evaluate_cost_alerts(tick.ledger, daily_costs(records), tables, factor, trailing, tick.sink.ui_url, min_increase)
    return Outcome(raised, resolved, summary=f"{len(tick.ledger.open_alerts(Kind.COST_JUMP))} open cost-jump incident(s)")


COST_JUMP_ALERTS = AlertSensor(
    name=SENSOR_NAME,
    kinds=(Kind.COST_JUMP,),
    evaluate=evaluate,
    minimum_interval_seconds=600,
    description="Warns once when a table's daily cost rises above its recent median by a factor, with the cause.",
)
cost_jump_alerts = alert_sensor(COST_JUMP_ALERTS)
