"""``slo_at_risk`` alerts: the SLO sensor's predictions (``ml_platform.slo.at_risk``) as incidents.

Per table and deadline, one warning when the predicted landing passes the deadline minus the
margin, with the predicted time and the critical path; it resolves when the table lands or the
deadline passes (a breach then follows the normal path). A table already warned for that
deadline by its declared ``warn_margin`` gets no second warning. Per table, one drift warning
while its completion time drifts toward the deadline.

Reads per tick: one key-value read (the history, rebuilt every ``HISTORY_REFRESH`` from one paged
read of recent materializations); the runs of the tables on a critical path come from the SLO
sensor's own batched run read.
"""

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from ml_platform import instance_reads
from ml_platform.alerting import Kind, Severity
from ml_platform.slo.at_risk import HISTORY_SPAN, History, Prediction, Predictor, at_risk, build_history
from ml_platform.slo.causes import IN_PROGRESS, Cause
from ml_platform.slo.deadlines import from_iso, iso, local_time, utc

HISTORY_KEY = "ml_platform/slo_at_risk/history"
DRIFT = "drift"  # the drift warning's alert source (one subject per table)
FAIL = "FAIL"


def load_history(instance, states: dict, now: datetime) -> History:
    stored = instance_reads.stored_value(instance, HISTORY_KEY)
    history = History.from_json(stored) if stored else None
    if history is None or history.is_stale(now):
        since = now.timestamp() - HISTORY_SPAN.total_seconds()
        materializations = instance_reads.materializations_after(instance, since)
        durations = instance_reads.step_durations(instance, since)
        history = build_history(materializations, {a: s.declaration for a, s in states.items()}, now, durations)
        instance_reads.store_value(instance, HISTORY_KEY, history.to_json())
    return history


class AtRisk:
    """This tick's predictions for every table not yet fresh for its next deadline."""

    def __init__(self, instance, asset_graph, states: dict, now: datetime):
        self.states, self.now = states, now
        self.history = load_history(instance, states, now)
        self.parents = {
            asset: [p.to_user_string() for p in asset_graph.get(s.key).parent_keys if p.to_user_string() in states]
            for asset, s in states.items()
        }
        self.predictions = self._predict({})
        self.watched = {s.asset for p in self.predictions.values() for s in p.path}  # whose runs refine them

    def refine(self, runs: dict) -> None:
        """Predict the tables at risk again, knowing when the runs in progress started."""
        started = {
            asset: run.started
            for asset, run in runs.items()
            if asset in self.watched and run.status in IN_PROGRESS and run.started is not None
            and run.partition in (None, self.states[asset].partition, self.states[asset].upcoming_partition)
        }
        if started:
            self.predictions = self._predict(started)

    def _predict(self, started: dict[str, float]) -> dict[str, Prediction]:
        predictor = Predictor(self.now.timestamp(), self.history.p90, self.parents.__getitem__, self._landed, started)
        found = {}
        for state in self.states.values():
            if state.upcoming_fresh_at is None:
                prediction = predictor.predict(state.asset, state.upcoming_partition)
                if at_risk(prediction, state.upcoming):
                    found[state.asset] = prediction
        return found

    def _landed(self, asset: str, partition: str | None) -> bool:
        state = self.states[asset]
        if not state.declaration.partition_column:
            return state.state != FAIL
        if partition == state.partition:
            return state.fresh_at is not None
        if partition == state.upcoming_partition:
            return state.upcoming_fresh_at is not None
        return True  # a date neither of its judged deadlines covers: not ours to predict

    def update(self, ledger, state, find_cause, make_alert, result) -> None:
        """Raise or resolve this table's at-risk and drift warnings."""
        mine = [a for a in ledger.open.values() if a.asset == state.asset and a.kind == Kind.SLO_AT_RISK]
        for alert in (a for a in mine if a.source is None):
            deadline = from_iso(alert.incident)
            landed = state.upcoming_fresh_at if deadline == state.upcoming else state.fresh_at if deadline == state.deadline else None
            if landed is not None or self.now >= deadline:
                ledger.resolve(alert.subject, self._resolution(state, deadline, landed))
                result.resolved.append(alert.key)
        prediction, incident = self.predictions.get(state.asset), iso(state.upcoming)
        warned = any(a.asset == state.asset and a.incident == incident and a.kind in (Kind.SLO_AT_RISK, Kind.SLO_WARNING) for a in ledger.open.values())
        if prediction is not None and not warned:
            alert = make_alert(
                Kind.SLO_AT_RISK, Severity.WARN, state, state.upcoming_partition, state.upcoming,
                find_cause(state, state.upcoming), self.now.timestamp(),
                title=f"SLO at risk: {state.asset} is predicted to land at {self._at(state, prediction.finish)},"
                f" after its {local_time(state.declaration, state.upcoming)} deadline — {self._path_text(state, prediction)}",
                extra=[("predicted finish", local_time(state.declaration, prediction.finish)), ("critical path", self._path_text(state, prediction))],
            )
            ledger.raise_alert(alert)
            result.raised.append(alert)
        self._update_drift(ledger, state, [a for a in mine if a.source == DRIFT], make_alert, result)

    def _update_drift(self, ledger, state, open_drift, make_alert, result) -> None:
        drift = self.history.drifting.get(state.asset)
        if drift is None:
            for alert in open_drift:
                ledger.resolve(alert.subject, f"SLO drift over: {state.asset} no longer lands later day after day")
                result.resolved.append(alert.key)
            return
        if open_drift:
            return
        deadline = self._at(state, state.upcoming.timestamp())
        text = (
            f"lands {drift.slope_minutes:.1f} min later each day (fit of its last {drift.days} deadlines) and last landed"
            f" {-drift.last_minutes:.0f} min before the deadline: at this rate it misses its {deadline} deadline in about"
            f" {drift.crosses_in_days:.0f} day(s)"
        )
        alert = make_alert(
            Kind.SLO_AT_RISK, Severity.WARN, state, None, state.upcoming, Cause("completion_drift", text), self.now.timestamp(),
            title=f"SLO drifting: {state.asset} {text}",
            extra=[("trend", f"+{drift.slope_minutes:.1f} min/day over {drift.days} days")],
        )
        alert = replace(alert, incident=f"{local_time(state.declaration, self.now)[:10]}/{DRIFT}", source=DRIFT)
        ledger.raise_alert(alert)
        result.raised.append(alert)

    def _path_text(self, state, prediction: Prediction) -> str:
        *upstream, own = prediction.path
        minutes = int(own.p90 // 60)
        run = f"its run started at {self._at(state, own.started)}" if own.started else "its run has not started"
        text = f"{run}, p90 {minutes} min"
        if upstream:
            first = upstream[0]
            late = first.finish - self._own_deadline(first.asset, state.upcoming_partition)
            behind = f", {_minutes(late)} after its own deadline" if late > 0 else ""
            chain = " → ".join(s.asset for s in prediction.path)
            text = f"waits for {first.asset} (predicted at {self._at(state, first.finish)}{behind}); critical path {chain}; {text}"
        return text

    def _own_deadline(self, asset: str, partition: str | None) -> float:
        state = self.states[asset]
        return (state.deadline if partition == state.partition else state.upcoming).timestamp()

    def _resolution(self, state, deadline: datetime, landed: float | None) -> str:
        when = local_time(state.declaration, deadline)
        if landed is not None and landed <= deadline.timestamp():
            return f"SLO risk over: {state.asset} landed at {self._at(state, landed)}, before its {when} deadline"
        return f"SLO risk over: the {when} deadline passed without {state.asset} on time (see the breach)"

    @staticmethod
    def _at(state, moment: float) -> str:
        return utc(moment).astimezone(ZoneInfo(state.declaration.slo.timezone)).strftime("%H:%M %Z")


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes} min"

