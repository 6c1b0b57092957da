"""What a sensor has alerted, and what still waits for delivery.

Each alerting sensor owns one ledger. Per tick it raises or resolves alerts, then calls
``deliver``; open incidents (dedup) and the undelivered backlog survive sensor restarts, Slack
outages and ticks cut off by Dagster's sensor timeout::

    ledger = AlertLedger.load(context.instance, SENSOR_NAME, context.cursor)
    ledger.raise_alert(alert)            # no-op when this incident was already raised
    ledger.resolve(alert.subject, "...") # one resolution message, only if an incident is open
    report = ledger.deliver(sink, now)   # stores the ledger, then sends in order; each delivered
                                         # alert leaves the stored backlog at once
    context.update_cursor(ledger.save()) # writes what changed; returns the small cursor

Open incidents, the backlog, dead letters and the state tables a sensor names
(``stored_state``) live in the instance's key-value store (``ledger_store``); the cursor keeps
counters and the sensor's small state (read positions), so a tick record stays small. A cursor in
the old format (the whole ledger as JSON, ``to_cursor``) still loads; its contents move to the
store on the first save. ``from_cursor``/``to_cursor`` remain for in-memory use.
"""

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ml_platform.alerting.alert import Alert, DeliveryReport, Kind, Severity
from ml_platform.alerting.ledger_store import LedgerStore

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
    stored_state: tuple[str, ...] = ()  # names of ``state`` tables (dicts) kept in the store, not the cursor
    _store: LedgerStore | None = field(default=None, repr=False, compare=False)
    _ids: list[int] = field(default_factory=list, repr=False, compare=False)  # store ids of ``outbox``
    _dead_ids: list[int] = field(default_factory=list, repr=False, compare=False)
    _seq: int = field(default=0, repr=False, compare=False)  # next store id

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
        after ``MAX_PERMANENT_FAILURES`` refusals, moved to ``dead_letters``.

        With a store (``load``), the ledger is stored before the first send (what was raised
        this tick is known even if the tick is cut off), and each delivered alert is removed
        from the stored backlog right after Slack accepted it."""
        report = DeliveryReport()
        self._sync_ids()
        if self._store is not None:
            self.save()
        started, budget = clock(), getattr(sink, "tick_budget_seconds", None)
        if self.outbox and now < self.next_attempt:
            report.failed = f"backing off after {self.failures} failed attempt(s); next try in {self.next_attempt - now:.0f}s"
        position = 0  # outbox[:position] was refused this tick (tried again next tick); outbox[position] is next
        while position < len(self.outbox) and report.failed is None:
            if budget is not None and clock() - started >= budget:
                report.deferred = len(self.outbox) - position
                break
            alert = self.outbox[position]
            try:
                sink.send(alert)
            except DeliveryFailed as error:
                if error.permanent:
                    position += self._refused(position, str(error), report)
                    continue
                self.failures += 1
                backoff = min(BACKOFF_BASE_SECONDS * 2 ** (self.failures - 1), BACKOFF_MAX_SECONDS)
                self.next_attempt = now + max(backoff, error.retry_after or 0.0)
                report.failed = f"{error} (attempt {self.failures}; retry in {self.next_attempt - now:.0f}s)"
                break
            self.outbox.pop(position)
            self._record_sent(self._ids.pop(position))
            self.refusals.pop(alert.key, None)
            self.failures, self.next_attempt = 0, 0.0
            report.delivered.append(alert.key)
        report.backlog, report.dropped, report.dead_letters = len(self.outbox), self.dropped, len(self.dead_letters)
        return report

    def _refused(self, position: int, reason: str, report: DeliveryReport) -> int:
        """1 if the alert at ``position`` stays in the backlog, 0 if it was dead-lettered."""
        alert = self.outbox[position]
        self.refusals[alert.key] = self.refusals.get(alert.key, 0) + 1
        if self.refusals[alert.key] < MAX_PERMANENT_FAILURES:
            return 1
        del self.refusals[alert.key]
        self.outbox.pop(position)
        entry_id = self._ids.pop(position)
        self.dead_letters.append(alert)
        self._dead_ids.append(entry_id)
        dropped_ids = self._dead_ids[:-MAX_DEAD_LETTERS]
        del self.dead_letters[:-MAX_DEAD_LETTERS]
        del self._dead_ids[:-MAX_DEAD_LETTERS]
        self._record_sent(entry_id, entry_id)
        for old in dropped_ids:
            self._record_sent(None, old)
        report.dead_lettered.append(f"{alert.key}: {reason}")
        return 0

    def _enqueue(self, alert: Alert) -> None:
        self._sync_ids()
        self.outbox.append(alert)
        self._ids.append(self._next_id())
        if len(self.outbox) > MAX_BACKLOG:
            # Drop the oldest of the least severe alerts, never a fatal one while others exist.
            order = [Severity.WARN, Severity.ERROR, Severity.FATAL]
            victim = min(range(len(self.outbox)), key=lambda i: (order.index(self.outbox[i].severity), i))
            self.outbox.pop(victim)
            self._ids.pop(victim)
            self.dropped += 1

    def _next_id(self) -> int:
        self._seq += 1
        return self._seq

    def _sync_ids(self) -> None:
        """Store ids for entries added without them (a ledger built in memory)."""
        while len(self._ids) < len(self.outbox):
            self._ids.append(self._next_id())
        while len(self._dead_ids) < len(self.dead_letters):
            self._dead_ids.append(self._next_id())

    # Persistence: the instance's key-value store for the bulky parts, the cursor for the rest.

    @staticmethod
    def load(
        instance: Any, sensor_name: str, cursor: str | None, stored_state: tuple[str, ...] = ()
    ) -> "AlertLedger":
        """The ledger of ``sensor_name``: small state from ``cursor``, the rest from the store.
        An old-format cursor (the whole ledger) is taken as is; ``save`` moves it to the store."""
        store = LedgerStore(instance, sensor_name, ["open", "outbox", "dead", *(f"state.{n}" for n in stored_state)])
        data = json.loads(cursor) if cursor else {}
        if "open" in data:  # old format: the cursor is the whole ledger
            ledger = AlertLedger.from_cursor(cursor)
            ledger.stored_state, ledger._store = tuple(stored_state), store
            ledger._seq = max([data.get("seq", 0), *_ids(store.read("outbox")), *_ids(store.read("dead"))])
            ledger._sync_ids()
            return ledger
        outbox = sorted(store.read("outbox").items(), key=lambda item: int(item[0]))
        dead = sorted(store.read("dead").items(), key=lambda item: int(item[0]))
        state = dict(data.get("state", {}))
        for name in stored_state:
            state[name] = store.read(f"state.{name}")
        ledger = AlertLedger(
            open={s: Alert.from_dict(a) for s, a in store.read("open").items()},
            outbox=[Alert.from_dict(a) for _, a in outbox],
            failures=data.get("failures", 0),
            next_attempt=data.get("next_attempt", 0.0),
            dropped=data.get("dropped", 0),
            state=state,
            refusals=data.get("refusals", {}),
            dead_letters=[Alert.from_dict(a) for _, a in dead],
            stored_state=tuple(stored_state),
        )
        ledger._store, ledger._ids, ledger._dead_ids = store, [int(i) for i, _ in outbox], [int(i) for i, _ in dead]
        # A tick cut off after storing new entries left an older cursor: never reuse their ids.
        ledger._seq = max([data.get("seq", 0), *ledger._ids, *ledger._dead_ids])
        return ledger

    def save(self) -> str:
        """Write what changed to the store (needs ``load``) and return the small cursor."""
        store = self._store
        if store is None:
            raise ValueError("save() needs a ledger from AlertLedger.load(); use to_cursor() in memory")
        self._sync_ids()
        queued = {a.key for a in self.outbox}
        self.refusals = {k: n for k, n in self.refusals.items() if k in queued}  # dropped ones leave
        store.write("open", {s: a.to_dict() for s, a in self.open.items()})
        store.write("outbox", self._outbox_entries())
        store.write("dead", {str(i): a.to_dict() for i, a in zip(self._dead_ids, self.dead_letters, strict=True)})
        for name in self.stored_state:
            store.write(f"state.{name}", self.state.get(name, {}))
        return json.dumps(
            {
                "v": 2,
                "seq": self._seq,
                "failures": self.failures,
                "next_attempt": self.next_attempt,
                "dropped": self.dropped,
                "refusals": self.refusals,
                "state": {k: v for k, v in self.state.items() if k not in self.stored_state},
            },
            separators=(",", ":"),
        )

    @property
    def store_bytes_written(self) -> int:
        return self._store.bytes_written if self._store else 0

    def _outbox_entries(self) -> dict[str, Any]:
        return {str(i): a.to_dict() for i, a in zip(self._ids, self.outbox, strict=True)}

    def _record_sent(self, entry_id: int | None, dead_id: int | None = None) -> None:
        """Delivery (or dead-lettering) of one alert, written at once: a tick cut off after this
        does not send it again."""
        if self._store is None:
            return
        if entry_id is not None:
            self._store.write("outbox", self._outbox_entries(), only={str(entry_id)})
        if dead_id is not None:
            self._store.write("dead", {str(i): a.to_dict() for i, a in zip(self._dead_ids, self.dead_letters, strict=True)}, only={str(dead_id)})

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
        """A ledger from an old-format cursor (the whole ledger, ``to_cursor``)."""
        if not cursor:
            return AlertLedger()
        data = json.loads(cursor)
        if "open" not in data:
            raise ValueError("not a whole-ledger cursor: read it with AlertLedger.load(instance, sensor_name, cursor)")
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


def _ids(entries: dict[str, Any]) -> list[int]:
    return [int(i) for i in entries]
