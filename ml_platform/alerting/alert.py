"""Alerts are data: a stable key, a severity, and everything a person needs to act."""

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any


class Severity(str, Enum):
    FATAL = "fatal"  # an SLO breach: a consumer reads a stale or missing table
    ERROR = "error"  # a run failure, an ERROR data check
    WARN = "warn"  # a WARN data check, an SLO at risk


class Kind(str, Enum):
    """The platform's own alert kinds. An alert's ``kind`` is any string: a new alert module may
    raise a kind of its own (with its runbook entry) without adding it here."""

    SLO_BREACH = "slo_breach"
    SLO_WARNING = "slo_warning"
    SLO_AT_RISK = "slo_at_risk"  # predicted to miss the deadline, or drifting toward it
    SLO_STALE_READ = "slo_stale_read"  # readers took a partition built from an input that changed since
    RUN_FAILURE = "run_failure"
    DATA_QUALITY = "data_quality"
    PREDICTION_PERFORMANCE = "prediction_performance"  # a delayed-label metric below its floor or decaying
    PREDICTION_MONITORING = "prediction_monitoring"  # drift or coverage failing on a table's newest partitions
    SENSOR_FAILURE = "sensor_failure"
    COST_JUMP = "cost_jump"  # a table's daily cost well above its recent median


def kind_name(kind: str) -> str:
    """The kind as plain text ("slo_breach")."""
    return kind.value if isinstance(kind, Kind) else kind


def as_kind(name: str) -> str:
    """The ``Kind`` member of a platform kind, else the name as is (an alert module's own kind)."""
    try:
        return Kind(name)
    except ValueError:
        return name


@dataclass(frozen=True)
class Alert:
    """One notification. ``subject`` names what is wrong (kind, asset, partition); ``key`` adds
    the incident (e.g. the missed deadline or the failed run), so the same incident alerts once
    and a new incident of the same subject alerts again."""

    kind: str  # a ``Kind`` member, or a kind of an alert module's own
    severity: Severity
    title: str  # one line: what happened
    asset: str | None = None  # asset key as "a/b"
    partition: str | None = None
    incident: str = ""
    owner: str | None = None
    channel: str | None = None  # per-asset override of the severity's channel
    since: float | None = None  # unix time the problem started
    run_id: str | None = None
    link: str | None = None  # deep link into the Dagster UI
    details: tuple[tuple[str, str], ...] = ()  # ordered (label, value) lines
    text: str = ""  # longer body, e.g. the last lines of a traceback
    resolved: bool = False
    source: str | None = None  # what raised it when it is not an asset, e.g. a sensor's name

    @property
    def subject(self) -> str:
        subject = f"{kind_name(self.kind)}|{self.asset or '-'}|{self.partition or '-'}"
        return subject + (f"|{self.source}" if self.source else "")

    @property
    def key(self) -> str:
        return f"{self.subject}|{self.incident}" + ("|resolved" if self.resolved else "")

    def resolution(self, title: str, **changes: Any) -> "Alert":
        """The message that closes this incident."""
        return replace(self, title=title, resolved=True, text="", **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"], data["severity"] = kind_name(self.kind), self.severity.value
        data["details"] = [list(pair) for pair in self.details]
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Alert":
        return Alert(
            **{
                **data,
                "kind": as_kind(data["kind"]),
                "severity": Severity(data["severity"]),
                "details": tuple(tuple(pair) for pair in data.get("details", ())),
            }
        )


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)  # alert keys
    failed: str | None = None  # why the backlog could not be drained this tick
    backlog: int = 0
    dropped: int = 0
    deferred: int = 0  # left in the backlog because the tick's sending budget was spent
    dead_lettered: list[str] = field(default_factory=list)  # refused for good this tick: "key: reason"
    dead_letters: int = 0  # held in the dead-letter list
