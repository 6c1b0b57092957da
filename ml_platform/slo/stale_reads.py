"""``slo_stale_read`` alerts: a consumer's readers took data built from an input that changed since.

When a dated input partition is materialized again (a fix, a backfill of past dates, a late
re-run) after one of its consumers had already built that date, the consumer's partition is
stale until it is rebuilt from the new input (the launch on data re-launches it). If the
consumer's deadline for that date passes while it is stale, its readers took data built from the
old input: one alert per (consumer, partition), naming both, the input's re-materialization time
and the deadline; it resolves when the consumer is rebuilt. When ``GROUP_AT`` or more partitions of
one consumer go stale in one tick (a backfill of past dates), one message lists them, and one
resolution follows once the last of them is rebuilt.

Built before the input changed: the consumer landed for that date before the input's new
materialization, or its landing's step started (landing time minus its recorded step duration)
before an input landing of the last day (a fix while the consumer ran) — and no later landing
started after it. Within the two deadlines the SLO sensor judges, its own record says when the
consumer landed; for an older date (a backfill) one read per (consumer, partition) asks the instance.
Unpartitioned inputs (models) are not followed here: the launch re-runs today's partition.
Materializations from before the sensor's first tick are history: they raise nothing.

State: the stale partitions (few) in the ledger's stored table ``stale``, the last day's input
landings in ``inputs``; the first tick's time in the cursor.
"""

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from ml_platform import cron
from ml_platform.alerting import Alert, AlertLedger, Kind, Severity
from ml_platform.alerting.links import asset_url
from ml_platform.declaration import MLAsset
from ml_platform.slo.deadlines import Materialization, deadline_partition, iso, local_time

STATE = "stale"  # consumer -> {partition: {"input", "at", "built"[, "alerted", "group"]}}
INPUTS = "inputs"  # input -> {partition: its latest landing}, for the last ``RECENT``
SINCE = "stale_since"  # first tick: older materializations are history
KEEP = timedelta(days=35)  # a stale partition never rebuilt is forgotten after this
RECENT = timedelta(days=1)  # longer than any consumer run
GROUP_AT = 4  # this many partitions of one consumer going stale in one tick share one message


def deadline_for(declaration: MLAsset, partition: str) -> datetime:
    """The consumer's deadline that reads ``partition``: its first deadline on that date."""
    tz = declaration.slo.timezone
    return cron.next_tick(declaration.slo.deadline_cron, datetime.fromisoformat(partition).replace(tzinfo=ZoneInfo(tz)), tz)


def _started(m: Materialization) -> float:
    return m.timestamp - (m.duration or 0.0)


class StaleReads:
    """Follows this tick's materializations; raises and resolves the stale-read alerts."""

    def __init__(self, instance, asset_graph, states: Mapping, ledger: AlertLedger, now: datetime, ui_url: str):
        self.instance, self.states, self.ledger, self.now, self.ui_url = instance, states, ledger, now, ui_url
        # sorted: one tick's alerts go out in asset-key order (a set's order depends on the hash seed)
        self.children = {
            asset: [c.to_user_string() for c in sorted(asset_graph.get(s.key).child_keys) if c.to_user_string() in states]
            for asset, s in states.items()
        }
        self.launched = {asset for asset, s in states.items() if asset_graph.get(s.key).automation_condition is not None}
        self.pending: dict[str, dict[str, dict]] = ledger.state.setdefault(STATE, {})
        self.inputs: dict[str, dict[str, float]] = ledger.state.setdefault(INPUTS, {})
        self.parents: dict[str, list[str]] = {}
        for parent, children in self.children.items():
            for child in children:
                self.parents.setdefault(child, []).append(parent)
        self.since = ledger.state.setdefault(SINCE, now.timestamp())

    def update(self, materializations: list[Materialization], result) -> None:
        for m in sorted(materializations, key=lambda m: m.timestamp):
            if m.partition is None or m.asset not in self.states or m.timestamp < self.since:
                continue
            self._rebuilt(m, result)
            self._read_while_changing(m)
            for child in self.children[m.asset]:
                built = self._built_before(child, m.partition, m.timestamp)
                if built is not None:
                    self.pending.setdefault(child, {})[m.partition] = {"input": m.asset, "at": m.timestamp, "built": built}
            if self.children[m.asset]:
                self.inputs.setdefault(m.asset, {})[m.partition] = m.timestamp
        horizon = self.now.timestamp() - RECENT.total_seconds()
        for name in list(self.inputs):
            self.inputs[name] = {p: t for p, t in self.inputs[name].items() if t >= horizon}
            if not self.inputs[name]:
                del self.inputs[name]
        for consumer, partitions in list(self.pending.items()):
            due = []
            for partition, entry in sorted(partitions.items()):
                deadline = deadline_for(self.states[consumer].declaration, partition) if consumer in self.states else None
                if deadline is None or self.now - deadline > KEEP:
                    del partitions[partition]
                elif self.now >= deadline and not entry.get("alerted"):
                    due.append((partition, entry, deadline))
            if not partitions:
                del self.pending[consumer]
            self._raise(consumer, due, result)

    def _raise(self, consumer: str, due: list, result) -> None:
        grouped = len(due) >= GROUP_AT
        alerts = []
        for partition, entry, deadline in due:
            entry["alerted"] = True
            alert = self._alert(consumer, partition, entry, deadline)
            if grouped:
                entry["group"] = f"{due[0][0]}…{due[-1][0]}"
            self.ledger.raise_alert(alert, notify=not grouped)
            result.raised.append(alert)
            alerts.append(alert)
        if grouped:
            self.ledger.notify(self._group_alert(consumer, alerts, due))

    def _rebuilt(self, m: Materialization, result) -> None:
        entry = self.pending.get(m.asset, {}).get(m.partition)
        if entry is None or _started(m) < entry["at"]:
            return
        del self.pending[m.asset][m.partition]
        subject = Alert(kind=Kind.SLO_STALE_READ, severity=Severity.ERROR, title="", asset=m.asset, partition=m.partition).subject
        current = self.ledger.open.get(subject)
        if current is None:
            return
        when = local_time(self.states[m.asset].declaration, m.timestamp)
        group = entry.get("group")
        self.ledger.resolve(subject, f"Stale read over: {m.asset} {m.partition} rebuilt at {when} from the new {entry['input']}", notify=group is None)
        result.resolved.append(current.key)
        if group is not None and not any(e.get("group") == group for e in self.pending.get(m.asset, {}).values()):
            self.ledger.notify(
                replace(current, partition=None, incident=f"group:{group}").resolution(
                    f"Stale read over: {m.asset} rebuilt from the new {entry['input']} on every partition of {group} (the last at {when})"
                )
            )

    def _group_alert(self, consumer: str, alerts: list[Alert], due: list) -> Alert:
        partitions = [partition for partition, _, _ in due]
        first = alerts[0]
        inputs = sorted({entry["input"] for _, entry, _ in due})
        title = (
            f"Stale read: the readers of {consumer} took {len(partitions)} partitions ({partitions[0]} … {partitions[-1]}) built from"
            f" {', '.join(inputs)} as it was before its re-materialization; {'the launch on data rebuilds them' if consumer in self.launched else 're-run them'}"
        )
        return replace(
            first, title=title, partition=None, incident=f"group:{partitions[0]}…{partitions[-1]}",
            details=(("cause", "input_changed"), ("partitions", ", ".join(partitions)), ("input", ", ".join(inputs))),
        )

    def _read_while_changing(self, m: Materialization) -> None:
        """A consumer landing whose step started before an input of its date landed again."""
        changed = [(self.inputs[p][m.partition], p) for p in self.parents.get(m.asset, ()) if m.partition in self.inputs.get(p, {})]
        late = [(t, p) for t, p in changed if _started(m) < t <= m.timestamp]
        if late:
            at, parent = max(late)
            self.pending.setdefault(m.asset, {})[m.partition] = {"input": parent, "at": at, "built": m.timestamp}

    def _built_before(self, consumer: str, partition: str, before: float) -> float | None:
        """When ``consumer`` last landed for ``partition`` before ``before`` (None: not built then)."""
        state = self.states[consumer]
        if not state.declaration.partition_column:
            return None
        if partition in (state.partition, state.upcoming_partition):
            landed = state.fresh_at if partition == state.partition else state.upcoming_fresh_at
            return landed if landed is not None and landed < before else None
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(state.key, asset_partitions=[partition], before_timestamp=before), limit=1
        ).records
        return records[0].timestamp if records else None

    def _alert(self, consumer: str, partition: str, entry: dict, deadline: datetime) -> Alert:
        state = self.states[consumer]
        declaration = state.declaration
        changed, built = local_time(declaration, entry["at"]), local_time(declaration, entry["built"])
        when = "after" if entry["at"] > deadline.timestamp() else "before"
        relaunch = "the launch on data rebuilds it" if consumer in self.launched else "re-run it to rebuild it"
        text = (
            f"the readers of {consumer} {partition} at its {local_time(declaration, deadline)} deadline took data built at {built}"
            f" from {entry['input']} as it was before its re-materialization at {changed} ({when} the deadline); {relaunch}"
        )
        return Alert(
            kind=Kind.SLO_STALE_READ,
            severity=Severity.ERROR,
            title=f"Stale read: {text}",
            asset=consumer,
            partition=partition,
            incident=iso(deadline),
            owner=declaration.owner,
            channel=declaration.alert_channel,
            since=deadline.timestamp(),
            link=asset_url(self.ui_url, state.key, partition=partition if deadline_partition(declaration, deadline) else None),
            details=(
                ("deadline", local_time(declaration, deadline)),
                ("cause", "input_changed"),
                ("why", text),
                ("input", entry["input"]),
                ("input re-materialized", changed),
                ("built", built),
                ("partition", partition),
            ),
        )
