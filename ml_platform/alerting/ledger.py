"""What a sensor has alerted, and what still waits for delivery — kept in the sensor's cursor.

Each alerting sensor owns one ledger. Per tick it raises or resolves alerts, then calls
``deliver``; the ledger is written back to the cursor, so open incidents (dedup) and the
undelivered backlog survive sensor restarts and Slack outages::

    ledger = AlertLedger.from_cursor(context.cursor)
    ledger.raise_alert(alert)            # no-op when this incident was already raised
    ledger.resolve(alert.subject, "...") # one resolution message, only if an incident is open
    report = ledger.deliver(sink, now)   # sends in order; on failure keeps the rest, backs off
    context.update_cursor(ledger.to_cursor())
"""

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ml_platform.alerting.alert import Alert, DeliveryReport, Kind, Severity

MAX_BACKLOG = 500
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 15 * 60.0
MAX_PERMANENT_FAILURES = 3  # refusals of one message (e.g. invalid_blocks) before it is dead-lettered
MAX_DEAD_LETTERS = 50


class DeliveryFailed(Exception):
    """The sink could not deliver; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, reason: str, retry_after: float | None = None, permanent: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent  # this message will never be accepted; Slack itself is fine




class Sink(Protocol):
    tick_budget_seconds: float  # stop sending when a tick has spent this long (the rest waits)

    def send(self, alert: Alert) -> None:
        """Deliver one alert or raise DeliveryFailed."""


@dataclass
class AlertLedger:
    open: dict[str, Alert] = field(default_factory=dict)  # subject -> the unresolved incident's alert
    outbox: list[Alert] = field(default_factory=list)  # oldest first
    failures: int = 0  # consecutive failed delivery attempts
    next_attempt: float = 0.0  # unix time before which delivery is not retried
    dropped: int = 0  # alerts dropped because the backlog was full (kept visible)
    state: dict[str, Any] = field(default_factory=dict)  # free room for the owning sensor's own cursor data
    refusals: dict[str, int] = field(default_factory=dict)  # alert key -> permanent refusals so far
    dead_letters: list[Alert] = field(default_factory=list)  # refused for good; reported, never retried

    def raise_alert(self, alert: Alert, notify: bool = True) -> bool:
        """Queue ``alert`` unless the same incident is already open. True if it is new.
        ``notify=False`` opens the incident without a message of its own (a grouped one is sent)."""
        current = self.open.get(alert.subject)
        if current is not None and current.key == alert.key:
            return False
        self.open[alert.subject] = alert
        if notify:
            self._enqueue(alert)
        return True

    def resolve(self, subject: str, title: str, notify: bool = True, **changes: Any) -> bool:
        """Queue one resolution for the open incident of ``subject``. True if there was one."""
        current = self.open.pop(subject, None)
        if current is None:
            return False
        if notify:
            self._enqueue(current.resolution(title, **changes))
        return True

    def notify(self, alert: Alert) -> None:
        """Queue a message that opens no incident, e.g. one grouping many partitions' alerts."""
        self._enqueue(alert)

    def open_alerts(self, kind: Kind | None = None) -> list[Alert]:
        return [a for a in self.open.values() if kind is None or a.kind == kind]

    def deliver(self, sink: Sink, now: float, clock: Any = time.monotonic) -> DeliveryReport:
        """Send the backlog in order until it is empty, the sink fails, or the tick's budget is
        spent. A message the sink refuses for good is skipped (it never blocks the rest) and,
        after ``MAX_PERMANENT_FAILURES`` refusals, moved to ``dead_letters``."""
        report = DeliveryReport()
        started, budget = clock(), getattr(sink, "tick_budget_seconds", None)
        if self.outbox and now < self.next_attempt:
            report.failed = f"backing off after {self.failures} failed attempt(s); next try in {self.next_attempt - now:.0f}s"
        queue, kept = list(self.outbox), []
        while queue and report.failed is None:
            if budget is not None and clock() - started >= budget:
                report.deferred = len(queue)
                break
            alert = queue.pop(0)
            try:
                sink.send(alert)
            except DeliveryFailed as error:
                if error.permanent:
                    self._refused(alert, str(error), kept, report)
                    continue
                self.failures += 1
                backoff = min(BACKOFF_BASE_SECONDS * 2 ** (self.failures - 1), BACKOFF_MAX_SECONDS)
                self.next_attempt = now + max(backoff, error.retry_after or 0.0)
                report.failed = f"{error} (attempt {self.failures}; retry in {self.next_attempt - now:.0f}s)"
                queue.insert(0, alert)
                break
            self.refusals.pop(alert.key, None)
            self.failures, self.next_attempt = 0, 0.0
            report.delivered.append(alert.key)
        self.outbox = kept + queue
        report.backlog, report.dropped, report.dead_letters = len(self.outbox), self.dropped, len(self.dead_letters)
        return report

    def _refused(self, alert: Alert, reason: str, kept: list[Alert], report: DeliveryReport) -> None:
        self.refusals[alert.key] = self.refusals.get(alert.key, 0) + 1
        if self.refusals[alert.key] < MAX_PERMANENT_FAILURES:
            kept.append(alert)  # tried again next tick, after the rest
            return
        del self.refusals[alert.key]
        self.dead_letters.append(alert)
        del self.dead_letters[:-MAX_DEAD_LETTERS]
        report.dead_lettered.append(f"{alert.key}: {reason}")

    def _enqueue(self, alert: Alert) -> None:
        self.outbox.append(alert)
        if len(self.outbox) > MAX_BACKLOG:
            # Drop the oldest of the least severe alerts, never a fatal one while others exist.
            order = [Severity.WARN, Severity.ERROR, Severity.FATAL]
            victim = min(range(len(self.outbox)), key=lambda i: (order.index(self.outbox[i].severity), i))
            self.outbox.pop(victim)
            self.dropped += 1

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "open": {s: a.to_dict() for s, a in self.open.items()},
                "outbox": [a.to_dict() for a in self.outbox],
                "failures": self.failures,
                "next_attempt": self.next_attempt,
                "dropped": self.dropped,
                "state": self.state,
                "refusals": self.refusals,
                "dead_letters": [a.to_dict() for a in self.dead_letters],
            },
            separators=(",", ":"),
        )

    @staticmethod
    def from_cursor(cursor: str | None) -> "AlertLedger":
        if not cursor:
            return AlertLedger()
        data = json.loads(cursor)
        return AlertLedger(
            open={s: Alert.from_dict(a) for s, a in data["open"].items()},
            outbox=[Alert.from_dict(a) for a in data["outbox"]],
            failures=data["failures"],
            next_attempt=data["next_attempt"],
            dropped=data["dropped"],
            state=data.get("state", {}),
            refusals=data.get("refusals", {}),
            dead_letters=[Alert.from_dict(a) for a in data.get("dead_letters", [])],
        )
