"""``slo_at_risk`` alerts: the SLO sensor's predictions (``ml_platform.slo.at_risk``) as incidents.

Per table and deadline, one warning when the predicted landing passes the deadline minus the
margin, with the predicted time and the critical path, or when a run on its path failed for good
(blocked: cause ``run_failed`` or ``upstream_failed``); it resolves when the table lands or the
deadline passes (a breach then follows the normal path). A table already warned for that
deadline by its declared ``warn_margin`` gets no second warning. Per table, one drift warning
while its completion time drifts toward the deadline.

Reads per tick: one key-value read (the history, rebuilt every ``HISTORY_REFRESH`` from one paged
read of recent materializations); the runs of the tables on a critical path, and of every table
due within ``WATCH_AHEAD`` and its unfinished upstreams (a failed run blocks them), come from the
SLO sensor's own batched run read.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ml_platform import instance_reads
from ml_platform.alerting import Kind, Severity
from ml_platform.alerting.links import run_url
from ml_platform.slo.at_risk import HISTORY_SPAN, MARGIN, History, Prediction, Predictor, Step, at_risk, build_history
from ml_platform.slo.causes import FAILED, IN_PROGRESS, Cause
from ml_platform.slo.deadlines import from_iso, iso, local_time, utc

HISTORY_KEY = "ml_platform/slo_at_risk/history"
DRIFT = "drift"  # the drift warning's alert source (one subject per table)
FAIL = "FAIL"
WATCH_AHEAD = timedelta(hours=3)  # tables due this soon have their runs read: a failed one blocks them


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

    def __init__(self, instance, asset_graph, states: dict, now: datetime, ui_url: str = ""):
        self.states, self.now, self.ui_url = states, now, ui_url
        self.history = load_history(instance, states, now)
        self.parents = {
            asset: [p.to_user_string() for p in sorted(asset_graph.get(s.key).parent_keys) if p.to_user_string() in states]
            for asset, s in states.items()
        }
        predictor = self._predictor({}, {})
        self.predictions = self._at_risk(predictor)
        due = [s for s in states.values() if s.upcoming_fresh_at is None and s.upcoming - now <= WATCH_AHEAD]
        on_paths = [p for s in due if (p := predictor.predict(s.asset, s.upcoming_partition)) is not None]
        # whose runs refine the predictions: a running run's start, a failed run that blocks
        self.watched = {s.asset for s in due} | {step.asset for p in [*on_paths, *self.predictions.values()] for step in p.path}

    def refine(self, runs: dict) -> None:
        """Predict again, knowing when the runs in progress started and which runs failed for good."""
        started, failed = {}, {}
        for asset, run in runs.items():
            state = self.states.get(asset)
            if asset not in self.watched or state is None:
                continue
            if run.status in IN_PROGRESS and run.started is not None and run.partition in (None, state.partition, state.upcoming_partition):
                started[asset] = run.started
            elif run.status in FAILED and not run.will_retry and run.partition == state.upcoming_partition:
                failed[asset] = (run.run_id, run.ended)
        if started or failed:
            self.predictions = self._at_risk(self._predictor(started, failed))

    def _predictor(self, started: dict, failed: dict) -> Predictor:
        return Predictor(self.now.timestamp(), self.history.p90, self.parents.__getitem__, self._landed, started, failed)

    def _at_risk(self, predictor: Predictor) -> dict[str, Prediction]:
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
            path = self._path_text(state, prediction)
            blocked = prediction.blocked
            if blocked is not None:
                cause = self._blocked_cause(state, blocked)
                title = f"SLO at risk: {state.asset} cannot land before its {local_time(state.declaration, state.upcoming)} deadline — {path}"
                finish = "none: blocked until the failed run is re-run"
            else:
                cause = find_cause(state, state.upcoming)
                when = "after" if prediction.finish > state.upcoming.timestamp() else f"within {int(MARGIN.total_seconds() // 60)} min of"
                title = (
                    f"SLO at risk: {state.asset} is predicted to land at {self._at(state, prediction.finish)},"
                    f" {when} its {local_time(state.declaration, state.upcoming)} deadline — {path}"
                )
                finish = local_time(state.declaration, prediction.finish)
            alert = make_alert(
                Kind.SLO_AT_RISK, Severity.WARN, state, state.upcoming_partition, state.upcoming, cause, self.now.timestamp(),
                title=title, extra=[("predicted finish", finish), ("critical path", path)],
            )
            ledger.raise_alert(alert)
            result.raised.append(alert)
        self._update_drift(ledger, state, [a for a in mine if a.source == DRIFT], make_alert, result)

    def _blocked_cause(self, state, step: Step) -> Cause:
        run_id, ended = step.failed
        at = f" at {self._at(state, ended)}" if ended else ""
        if step.asset == state.asset:
            return Cause("run_failed", f"its run {run_id[:8]} failed{at} and no retry is coming: re-run it", run_id, run_url(self.ui_url, run_id))
        return Cause(
            "upstream_failed",
            f"upstream {step.asset}'s run {run_id[:8]} failed{at} and no retry is coming: {state.asset} waits until it is re-run",
            run_id,
            run_url(self.ui_url, run_id),
        )

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
        text = self._step_text(state, own)
        if upstream:
            first = upstream[0]
            chain = " → ".join(s.asset for s in prediction.path)
            if first.failed is not None:
                run_id, ended = first.failed
                at = f" at {self._at(state, ended)}" if ended else ""
                return f"blocked: waits for {first.asset}, whose run {run_id[:8]} failed{at} with no retry coming; critical path {chain}; {text}"
            late = first.finish - self._own_deadline(first.asset, state.upcoming_partition)
            behind = f", {_minutes(late)} after its own deadline" if late > 0 else ""
            text = f"waits for {first.asset} (predicted at {self._at(state, first.finish)}{behind}); critical path {chain}; {text}"
        return text

    def _step_text(self, state, step: Step) -> str:
        if step.failed is not None:
            run_id, ended = step.failed
            at = f" at {self._at(state, ended)}" if ended else ""
            return f"blocked: its run {run_id[:8]} failed{at} with no retry coming"
        expected = f"expected duration {int(step.p90 // 60)} min" if step.p90 is not None else "no recorded duration"
        if step.started is None:
            return f"its run has not started, {expected}"
        if step.overdue:
            running = _minutes(self.now.timestamp() - step.started)
            return (
                f"its run started at {self._at(state, step.started)} is overdue (running {running}, {expected}):"
                f" if it is stuck, a new run started now lands at {self._at(state, self.now.timestamp() + step.p90)}"
            )
        return f"its run started at {self._at(state, step.started)}, {expected}"

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

