"""Why a table is late: the cause an SLO alert states, from what the instance can see.

Checked in this order, the first that applies wins:

1. ``upstream_late``: a declared parent asset is itself failing (or at risk) — name it and
   its own cause (found the same way, up the chain), linking the run it names;
1b. ``upstream_blocked``: a parent's partition of the date landed, but an ERROR result of one of
   its blocking checks holds its consumers (``checks.holds``) — name the input, the check, when,
   and link the input's checks;
2. ``run_in_progress``: the newest run for this table's deadline is queued or running;
3. ``run_failed``: the newest run failed or was canceled — its root error and a link;
4. ``run_succeeded``: the newest run succeeded without materializing the deadline's partition;
5. ``no_run``: no run for the table since the deadline's window opened — and whether the
   product schedule is stopped.

A table that arrived late between two ticks (fresh again before any tick saw it failing) is
still a breach, with cause ``materialized_late``.
"""

from dataclasses import dataclass
from datetime import datetime

from ml_platform.alerting.links import asset_url, run_url
from ml_platform.checks.holds import Hold
from ml_platform.declaration import MLAsset
from ml_platform.instance_reads import RunInfo
from ml_platform.slo.deadlines import deadline_partition, local_time, window_start

IN_PROGRESS = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
FAILED = {"FAILURE", "CANCELED"}


@dataclass(frozen=True)
class Cause:
    kind: str  # upstream_late | upstream_blocked | run_in_progress | run_failed | run_succeeded | no_run
    text: str  # one sentence a person can act on
    run_id: str | None = None
    run_link: str | None = None
    checks_link: str | None = None  # the held input's checks, for upstream_blocked


def upstream_blocked_cause(
    declaration: MLAsset, table: str, blocked: list[tuple[str, str, Hold]], ui_url: str, launcher: str | None
) -> Cause | None:
    """``blocked``: (input, partition, hold) for each held input of the table's date."""
    if not blocked:
        return None
    held = "; ".join(
        f"input {name} {partition} {hold.why} at {local_time(declaration, hold.at)}"
        for name, partition, hold in blocked
    )
    waits = f"sensor {launcher} launches {table}" if launcher else f"{table}'s run reads it"
    name, _, first = blocked[0]
    return Cause(
        "upstream_blocked",
        f"{held}: {waits} once that partition passes its checks (re-run it, or fix its data and re-run it)",
        first.run_id,
        run_url(ui_url, first.run_id),
        asset_url(ui_url, name, view="checks"),
    )


def upstream_cause(late_parents: list[tuple[str, Cause]]) -> Cause | None:
    """``late_parents``: each late parent with its own cause."""
    if not late_parents:
        return None
    one = len(late_parents) == 1
    names = ", ".join(name for name, _ in late_parents)
    why = "; ".join(f"{name}: {cause.kind}, {cause.text}" for name, cause in late_parents)
    linked = next((cause for _, cause in late_parents if cause.run_link), None)
    return Cause(
        "upstream_late",
        f"upstream {'table' if one else 'tables'} {names} {'is' if one else 'are'} late too — {why}",
        linked.run_id if linked else None,
        linked.run_link if linked else None,
    )


def relevant_run(declaration: MLAsset, deadline: datetime, run: RunInfo | None) -> RunInfo | None:
    """The table's newest planned run, if it began after the deadline's window opened (and,
    for a partitioned table, targets the deadline's partition)."""
    if run is None or run.began < window_start(declaration, deadline):
        return None
    partition = deadline_partition(declaration, deadline)
    if partition is not None and run.partition not in (None, partition):
        return None
    return run


def run_cause(declaration: MLAsset, run: RunInfo, now: float, ui_url: str, failure_message: str | None) -> Cause:
    link = run_url(ui_url, run.run_id)
    short = run.run_id[:8]
    if run.status in IN_PROGRESS:
        if run.started is None:
            return Cause("run_in_progress", f"run {short} is {run.status.lower()} since {local_time(declaration, run.created)}, not started yet", run.run_id, link)
        return Cause(
            "run_in_progress",
            f"run {short} in progress: started at {local_time(declaration, run.started)}, running for {_duration(now - run.started)}",
            run.run_id,
            link,
        )
    if run.status in FAILED:
        at = f" at {local_time(declaration, run.ended)}" if run.ended else ""
        error = f": {failure_message}" if failure_message else ""
        return Cause("run_failed", f"last run {short} {run.status.lower()}{at}{error}", run.run_id, link)
    return Cause(
        "run_succeeded",
        f"last run {short} ended {run.status.lower()} without materializing this table for the deadline",
        run.run_id,
        link,
    )


def late_arrival_cause(declaration: MLAsset, deadline: datetime, fresh_at: float) -> Cause:
    late = _duration(fresh_at - deadline.timestamp())
    return Cause("materialized_late", f"materialized at {local_time(declaration, fresh_at)}, {late} after the deadline")


def no_run_cause(declaration: MLAsset, deadline: datetime, schedule: str | None, stopped: bool, launcher: str | None = None) -> Cause:
    """``launcher``: the sensor that launches the table on data (instead of a schedule), if any."""
    opened = local_time(declaration, window_start(declaration, deadline))
    if launcher is not None:
        tail = f"; sensor {launcher} launches it once its inputs for the date are materialized and no ERROR check holds them"
    elif schedule is None:
        tail = "; no schedule targets it"
    elif stopped:
        tail = f"; schedule {schedule} is stopped"
    else:
        tail = f"; schedule {schedule} is running but started no run for it"
    return Cause("no_run", f"no run started since the window opened at {opened}{tail}")


def _duration(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"
