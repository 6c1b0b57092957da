"""The reference a partition is judged against: a pinned, known-good window, next to the
day-over-day window.

A ``Pin`` says from which partition the reference starts (``since``): the first partition written
after the table's model was last retrained, the partition a person pinned (CLI or UI), or the
first partition the monitoring checked. The pinned window is the first ``reference_partitions`` partitions from
``since`` that passed the check (a partition that failed never becomes "known good"; partitions
recorded before a person pinned count as good: that is what pinning them says). It stays fixed until
the next pin, so a lasting break keeps failing until it is repaired, and a slow creep adds up
against it. The day-over-day window is the ``reference_partitions`` partitions just before the
checked one, within the same pin.

Each checked partition leaves a ``PartitionSummary`` (sketches of its statistics, coverage
counts, which checks it passed); the windows are built from those, never from old rows.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from ml_platform.monitoring.coverage import CoverageCounts
from ml_platform.monitoring.sketch import Sketch

SUMMARY_KEY = "ml_platform/monitoring_summary"  # observation metadata of a checked partition
PINNED_SPAN = 3  # the pinned window is looked for within reference_partitions x this many days of ``since``


@dataclass(frozen=True)
class Pin:
    since: str  # first partition of the reference
    at: float  # unix time it was pinned
    reason: str  # "model propensity_model retrained 2026-01-05 06:00 UTC", "pinned by ...", ...
    explicit: bool = False  # pinned by a person: partitions recorded before ``at`` count as good
    retrained: bool = False  # pinned by the table's model's retraining

    def describe(self) -> str:
        return f"pinned since {self.since} ({self.reason})"


@dataclass(frozen=True)
class PartitionSummary:
    partition: str
    rows: int
    statistics: dict[str, Sketch]
    coverage: CoverageCounts
    passed: dict[str, bool] = field(default_factory=dict)  # check name -> passed
    recorded: float = 0.0  # unix time it was recorded

    def to_json(self) -> dict:
        return {
            "rows": self.rows,
            "statistics": {name: sketch.to_json() for name, sketch in self.statistics.items()},
            "coverage": self.coverage.to_json(),
            "passed": self.passed,
        }

    @staticmethod
    def from_json(partition: str, data: dict, recorded: float) -> "PartitionSummary":
        return PartitionSummary(
            partition,
            int(data["rows"]),
            {name: Sketch.from_json(s) for name, s in data["statistics"].items()},
            CoverageCounts.from_json(data["coverage"]),
            dict(data.get("passed", {})),
            recorded,
        )


def shifted(partition: str, days: int) -> str:
    return (date.fromisoformat(partition[:10]) + timedelta(days=days)).isoformat()


def partitions_to_read(pin: Pin | None, partition: str, n: int) -> list[str]:
    """The partitions whose summaries can make up the windows of ``partition``."""
    trailing = [shifted(partition, -i) for i in range(n, 0, -1)]
    if pin is None or partition < pin.since or is_first_after_retrain(pin, partition):
        return trailing
    pinned = [shifted(pin.since, i) for i in range(n * PINNED_SPAN)]
    return sorted({p for p in (*pinned, *trailing) if pin.since <= p < partition})


def windows(
    pin: Pin | None, history: dict[str, PartitionSummary], partition: str, n: int, check: str
) -> tuple[list[PartitionSummary], list[PartitionSummary]]:
    """(pinned window, day-over-day window) of ``partition``, oldest first. A partition older than
    the pin is compared day over day only: the pin is about the partitions after it. The first
    partition of a retraining's pin is compared day over day with the partitions before it (the
    previous model's; ``is_first_after_retrain``): the retraining pins it, but is not unjudged."""
    earlier = sorted(p for p in history if p < partition)
    if pin is None or partition < pin.since:
        return [], [history[p] for p in earlier[-n:]]
    era = [p for p in earlier if p >= pin.since]
    limit = shifted(pin.since, n * PINNED_SPAN)
    pinned = [history[p] for p in era if p < limit and _known_good(history[p], pin, check)][:n]
    if not era and is_first_after_retrain(pin, partition):
        return [], [history[p] for p in earlier[-n:]]
    return pinned, [history[p] for p in era[-n:]]


def is_first_after_retrain(pin: Pin | None, partition: str) -> bool:
    return pin is not None and pin.retrained and partition == pin.since


def _known_good(summary: PartitionSummary, pin: Pin, check: str) -> bool:
    return summary.partition == pin.since or (pin.explicit and summary.recorded < pin.at) or summary.passed.get(check, True)


def describe_window(summaries: list[PartitionSummary]) -> str:
    if not summaries:
        return "none yet"
    return f"{summaries[0].partition} .. {summaries[-1].partition} ({len(summaries)} partitions)"
