"""Which materialization counts for which SLO deadline — shared by the SLO sensor and the report.

Dagster's ``FreshnessPolicy.cron`` is evaluated per asset: any materialization after
``deadline - window`` makes the asset fresh (upstream #15551). For a daily-partitioned table
that is not the contract: the consumer reads the partition of the deadline's date. So a
materialization counts for deadline ``D`` when

* unpartitioned (models): its time is at or after ``D - window``;
* partitioned: its partition is ``D``'s date in the SLO's time zone **and** its time is at or
  after ``D - window`` (a backfill of an old partition counts for nothing).

It is on time when it is also at or before ``D``. Deadlines are the ticks of the SLO cron,
computed with ``ml_platform.cron`` (the freshness daemon's own cron arithmetic).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ml_platform import cron
from ml_platform.declaration import MLAsset


@dataclass(frozen=True)
class Materialization:
    asset: str  # asset key as "a/b"
    timestamp: float
    partition: str | None
    duration: float | None = None  # the step's compute time, when recorded (compute.step_metrics)
    run_id: str | None = None


def latest_deadline(declaration: MLAsset, now: datetime) -> datetime:
    """The latest deadline at or before ``now`` (the one the table is judged on now)."""
    return cron.last_tick(declaration.slo.deadline_cron, now, declaration.slo.timezone)


def next_deadline(declaration: MLAsset, after: datetime) -> datetime:
    """The first deadline strictly after ``after``."""
    return cron.next_tick(declaration.slo.deadline_cron, after + timedelta(seconds=1), declaration.slo.timezone)


def deadlines_between(declaration: MLAsset, start: datetime, end: datetime) -> list[datetime]:
    """Every deadline in ``(start, end]``, oldest first."""
    found, tick = [], next_deadline(declaration, start)
    while tick <= end:
        found.append(tick)
        tick = next_deadline(declaration, tick)
    return found


def deadline_partition(declaration: MLAsset, deadline: datetime) -> str | None:
    """The partition a deadline judges: the deadline's date in the SLO's time zone."""
    if not declaration.partition_column:
        return None
    return deadline.astimezone(ZoneInfo(declaration.slo.timezone)).strftime("%Y-%m-%d")


def partition_deadline(declaration: MLAsset, partition: str | None) -> datetime | None:
    """The deadline that judges a daily partition (the SLO's tick on the partition's date); None
    for an unpartitioned table or a partition key that is not a date."""
    if not declaration.partition_column or not partition:
        return None
    try:
        day = datetime.strptime(partition[:10], "%Y-%m-%d").replace(tzinfo=ZoneInfo(declaration.slo.timezone))
    except ValueError:
        return None
    tick = next_deadline(declaration, day - timedelta(seconds=1))
    return tick if deadline_partition(declaration, tick) == partition[:10] else None


def window_start(declaration: MLAsset, deadline: datetime) -> float:
    return (deadline - declaration.slo.window).timestamp()


def counts_for(declaration: MLAsset, deadline: datetime, materialization: Materialization) -> bool:
    """Does this materialization make the table fresh for ``deadline`` (on time or late)?"""
    if materialization.timestamp < window_start(declaration, deadline):
        return False
    return materialization.partition == deadline_partition(declaration, deadline)


def iso(deadline: datetime) -> str:
    return deadline.isoformat()


def from_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)



def local_time(declaration: MLAsset, moment: datetime | float) -> str:
    """A moment in the SLO's time zone, as people on the consuming side read it."""
    if not isinstance(moment, datetime):
        moment = utc(moment)
    return moment.astimezone(ZoneInfo(declaration.slo.timezone)).strftime("%Y-%m-%d %H:%M %Z")
