"""30 simulated days, 22 prediction tables, a feature table and a weekly model: scripted outcomes
in, the exact list of SLO alerts out — with a sensor restart (cursor read back from the
instance) in the middle.

Deadlines (Asia/Tokyo): features 06:00 daily, weekly_model Monday 07:00, tables 08:00 daily;
table_01..05 warn 30 min ahead. Unless scripted, every day is on time: features at 05:30,
tables at 07:00, the model on Mondays at 06:00. Ticks: 05:00, 06:30, 07:45, 08:10, 12:00.

Each materialization records its step duration (``DURATIONS``): the at-risk predictions read
their p90. table_19 is a long table (90 min) whose run starts at 05:30; table_21's landing
drifts 4 min later each day from 03-10 until it misses on 03-26, then is fixed.
"""

from datetime import date, datetime, timedelta

import pytest

from ml_platform.alerting import AlertLedger
from ml_platform.slo.alerts import SENSOR_NAME as SLO_SENSOR
from ml_platform.slo.alerts import STORED_STATE
from ml_platform.slo.report import attainment
from tests.fixtures import slo_catalog
from tests.fixtures.slo_simulation import Simulation, tmpfs_instance, tokyo

DAYS = [(date(2026, 3, 1) + timedelta(days=i)).isoformat() for i in range(30)]
TICKS = ["05:00", "06:30", "07:45", "08:10", "12:00"]
RESTART_BEFORE = "2026-03-16"

# Outcomes: what happens to a table on a day instead of its on-time materialization.
LATE = "late"  # materialized at 10:00 (09:00 for the model), no run before
LATE_BETWEEN_TICKS = "late_between_ticks"  # materialized at 08:05, fresh again by the next tick
FAILED_RETRIED = "failed_retried"  # a run fails at 06:40, a retry materializes at 07:10
FAILED = "failed"  # a run fails at 06:40, nothing else
NEVER = "never"  # no run at all
SLOW = "slow"  # a run starts at 06:30 and materializes at 09:00
STUCK = "stuck"  # a run starts at 06:30 and hangs
OLD_BACKFILL = "old_backfill"  # only the partition of ten days earlier is materialized, at 07:00
AFTER_LATE_UPSTREAM = "after_late_upstream"  # launched on data once its late upstream landed: materialized at 10:20
LATE_START = "late_start"  # the long table's run starts at 06:35 instead of 05:30 and lands at 07:55

DURATIONS = {"features": 600, "weekly_model": 1800, "table_19": 5400}  # seconds; other tables 1200
LONG_TABLE, DRIFTING_TABLE = "table_19", "table_21"
DRIFT_START, DRIFT_END, DRIFT_MINUTES = date(2026, 3, 10), date(2026, 3, 26), 4

SCRIPT = [
    ("2026-03-03", "table_01", LATE),
    ("2026-03-04", "table_02", FAILED_RETRIED),
    ("2026-03-05", "table_06", FAILED_RETRIED),
    ("2026-03-06", "table_07", FAILED),
    ("2026-03-08", "table_08", NEVER),
    ("2026-03-10", "table_09", STUCK),
    ("2026-03-11", "table_03", SLOW),
    ("2026-03-12", "features", NEVER),
    ("2026-03-12", "table_10", NEVER),
    ("2026-03-12", "table_11", NEVER),
    ("2026-03-12", "table_12", NEVER),
    ("2026-03-14", "table_14", OLD_BACKFILL),
    ("2026-03-15", "table_15", NEVER),  # open across the restart
    ("2026-03-15", "table_16", NEVER),
    ("2026-03-16", "table_16", NEVER),  # a second missed deadline: a new breach
    ("2026-03-16", "weekly_model", LATE),
    ("2026-03-16", "table_13", LATE),
    ("2026-03-18", "features", LATE),  # another product's table, hours late: its consumers wait
    ("2026-03-18", "table_10", AFTER_LATE_UPSTREAM),
    ("2026-03-18", "table_11", AFTER_LATE_UPSTREAM),
    ("2026-03-18", "table_12", AFTER_LATE_UPSTREAM),
    ("2026-03-20", "table_20", LATE),
    ("2026-03-22", "table_04", FAILED),
    ("2026-03-24", LONG_TABLE, LATE_START),
    ("2026-03-25", "table_22", LATE_BETWEEN_TICKS),
]

# (tick, kind, asset, partition or deadline date, cause); "resolved" rows (of a breach, or "<kind> resolved") have no cause.
EXPECTED = [
    ("03-03 07:45", "warning", "table_01", "2026-03-03", "no_run"),
    ("03-03 08:10", "breach", "table_01", "2026-03-03", "no_run"),
    ("03-03 12:00", "resolved", "table_01", "2026-03-03", ""),
    ("03-06 07:45", "at_risk", "table_07", "2026-03-06", "run_failed"),
    ("03-06 08:10", "breach", "table_07", "2026-03-06", "run_failed"),
    ("03-06 08:10", "at_risk resolved", "table_07", "2026-03-06", ""),
    ("03-07 08:10", "resolved", "table_07", "2026-03-06", ""),
    ("03-08 07:45", "at_risk", "table_08", "2026-03-08", "no_run"),
    ("03-08 08:10", "breach", "table_08", "2026-03-08", "no_run"),
    ("03-08 08:10", "at_risk resolved", "table_08", "2026-03-08", ""),
    ("03-09 08:10", "resolved", "table_08", "2026-03-08", ""),
    ("03-10 08:10", "breach", "table_09", "2026-03-10", "run_in_progress"),
    ("03-11 07:45", "warning", "table_03", "2026-03-11", "run_in_progress"),
    ("03-11 08:10", "breach", "table_03", "2026-03-11", "run_in_progress"),
    ("03-11 08:10", "resolved", "table_09", "2026-03-10", ""),
    ("03-11 12:00", "resolved", "table_03", "2026-03-11", ""),
    ("03-12 06:30", "breach", "features", "2026-03-12", "no_run"),
    ("03-12 07:45", "at_risk", "table_10", "2026-03-12", "upstream_late"),
    ("03-12 07:45", "at_risk", "table_11", "2026-03-12", "upstream_late"),
    ("03-12 07:45", "at_risk", "table_12", "2026-03-12", "upstream_late"),
    ("03-12 08:10", "breach", "table_10", "2026-03-12", "upstream_late"),
    ("03-12 08:10", "at_risk resolved", "table_10", "2026-03-12", ""),
    ("03-12 08:10", "breach", "table_11", "2026-03-12", "upstream_late"),
    ("03-12 08:10", "at_risk resolved", "table_11", "2026-03-12", ""),
    ("03-12 08:10", "breach", "table_12", "2026-03-12", "upstream_late"),
    ("03-12 08:10", "at_risk resolved", "table_12", "2026-03-12", ""),
    ("03-13 06:30", "resolved", "features", "2026-03-12", ""),
    ("03-13 08:10", "resolved", "table_10", "2026-03-12", ""),
    ("03-13 08:10", "resolved", "table_11", "2026-03-12", ""),
    ("03-13 08:10", "resolved", "table_12", "2026-03-12", ""),
    ("03-14 07:45", "at_risk", "table_14", "2026-03-14", "no_run"),
    ("03-14 08:10", "breach", "table_14", "2026-03-14", "no_run"),
    ("03-14 08:10", "at_risk resolved", "table_14", "2026-03-14", ""),
    ("03-15 07:45", "at_risk", "table_15", "2026-03-15", "no_run"),
    ("03-15 07:45", "at_risk", "table_16", "2026-03-15", "no_run"),
    ("03-15 08:10", "resolved", "table_14", "2026-03-14", ""),
    ("03-15 08:10", "breach", "table_15", "2026-03-15", "no_run"),
    ("03-15 08:10", "at_risk resolved", "table_15", "2026-03-15", ""),
    ("03-15 08:10", "breach", "table_16", "2026-03-15", "no_run"),
    ("03-15 08:10", "at_risk resolved", "table_16", "2026-03-15", ""),
    # restart
    ("03-16 06:30", "at_risk", "weekly_model", "2026-03-16", "no_run"),
    ("03-16 07:45", "at_risk", "table_13", "2026-03-16", "upstream_late"),
    ("03-16 07:45", "at_risk", "table_16", "2026-03-16", "no_run"),
    ("03-16 07:45", "breach", "weekly_model", "2026-03-16", "no_run"),
    ("03-16 07:45", "at_risk resolved", "weekly_model", "2026-03-16", ""),
    ("03-16 08:10", "breach", "table_13", "2026-03-16", "upstream_late"),
    ("03-16 08:10", "at_risk resolved", "table_13", "2026-03-16", ""),
    ("03-16 08:10", "resolved", "table_15", "2026-03-15", ""),
    ("03-16 08:10", "breach", "table_16", "2026-03-16", "no_run"),
    ("03-16 08:10", "at_risk resolved", "table_16", "2026-03-16", ""),
    ("03-16 12:00", "resolved", "table_13", "2026-03-16", ""),
    ("03-16 12:00", "resolved", "weekly_model", "2026-03-16", ""),
    ("03-17 08:10", "resolved", "table_16", "2026-03-16", ""),
    ("03-18 06:30", "breach", "features", "2026-03-18", "no_run"),
    ("03-18 07:45", "at_risk", "table_10", "2026-03-18", "upstream_late"),
    ("03-18 07:45", "at_risk", "table_11", "2026-03-18", "upstream_late"),
    ("03-18 07:45", "at_risk", "table_12", "2026-03-18", "upstream_late"),
    ("03-18 08:10", "breach", "table_10", "2026-03-18", "upstream_late"),
    ("03-18 08:10", "at_risk resolved", "table_10", "2026-03-18", ""),
    ("03-18 08:10", "breach", "table_11", "2026-03-18", "upstream_late"),
    ("03-18 08:10", "at_risk resolved", "table_11", "2026-03-18", ""),
    ("03-18 08:10", "breach", "table_12", "2026-03-18", "upstream_late"),
    ("03-18 08:10", "at_risk resolved", "table_12", "2026-03-18", ""),
    ("03-18 12:00", "resolved", "features", "2026-03-18", ""),
    ("03-18 12:00", "resolved", "table_10", "2026-03-18", ""),
    ("03-18 12:00", "resolved", "table_11", "2026-03-18", ""),
    ("03-18 12:00", "resolved", "table_12", "2026-03-18", ""),
    ("03-20 07:45", "at_risk", "table_20", "2026-03-20", "no_run"),
    ("03-20 08:10", "breach", "table_20", "2026-03-20", "no_run"),
    ("03-20 08:10", "at_risk resolved", "table_20", "2026-03-20", ""),
    ("03-20 12:00", "resolved", "table_20", "2026-03-20", ""),
    # table_21's drift: warned days ahead, then on each day it is predicted late, then it misses
    ("03-20 12:00", "at_risk", "table_21", "2026-03-20", "completion_drift"),
    ("03-22 07:45", "warning", "table_04", "2026-03-22", "run_failed"),
    ("03-22 07:45", "at_risk", "table_21", "2026-03-22", "no_run"),
    ("03-22 08:10", "breach", "table_04", "2026-03-22", "run_failed"),
    ("03-22 08:10", "at_risk resolved", "table_21", "2026-03-22", ""),
    ("03-23 07:45", "at_risk", "table_21", "2026-03-23", "no_run"),
    ("03-23 08:10", "resolved", "table_04", "2026-03-22", ""),
    ("03-23 08:10", "at_risk resolved", "table_21", "2026-03-23", ""),
    ("03-24 06:30", "at_risk", "table_19", "2026-03-24", "no_run"),
    ("03-24 07:45", "at_risk", "table_21", "2026-03-24", "no_run"),
    ("03-24 08:10", "at_risk resolved", "table_19", "2026-03-24", ""),
    ("03-24 08:10", "at_risk resolved", "table_21", "2026-03-24", ""),
    ("03-25 07:45", "at_risk", "table_21", "2026-03-25", "no_run"),
    ("03-25 07:45", "at_risk", "table_22", "2026-03-25", "no_run"),
    ("03-25 08:10", "at_risk resolved", "table_21", "2026-03-25", ""),
    ("03-25 08:10", "breach", "table_22", "2026-03-25", "materialized_late"),
    ("03-25 08:10", "resolved", "table_22", "2026-03-25", ""),
    ("03-25 08:10", "at_risk resolved", "table_22", "2026-03-25", ""),
    ("03-26 07:45", "at_risk", "table_21", "2026-03-26", "no_run"),
    ("03-26 08:10", "breach", "table_21", "2026-03-26", "materialized_late"),
    ("03-26 08:10", "resolved", "table_21", "2026-03-26", ""),
    ("03-26 08:10", "at_risk resolved", "table_21", "2026-03-26", ""),
    ("03-26 12:00", "at_risk resolved", "table_21", "2026-03-20", ""),
]

ASSET_DEFS = {a.key.to_user_string(): a for a in slo_catalog.ASSETS}


def on_time(asset: str, day: str) -> list[tuple[str, str, str | None]]:
    """(time, asset, partition) materializations of an unscripted day."""
    if asset == "weekly_model":
        return [("06:00", asset, None)] if date.fromisoformat(day).weekday() == 0 else []
    if asset == DRIFTING_TABLE and DRIFT_START <= date.fromisoformat(day) <= DRIFT_END:
        minutes = 7 * 60 + DRIFT_MINUTES * (date.fromisoformat(day) - DRIFT_START).days
        return [(f"{minutes // 60:02d}:{minutes % 60:02d}", asset, day)]
    return [("05:30" if asset == "features" else "07:00", asset, day)]


def duration(asset: str) -> float:
    return DURATIONS.get(asset, 1200)


def run_events(sim: Simulation, asset: str, day: str, start: str, end: str | None) -> list:
    """A run of ``asset`` for ``day`` that starts at ``start`` and lands at ``end`` (None: never)."""
    runs = {}
    events = [(start, 1, lambda: runs.update(id=sim.start_run(tokyo(day, start), asset, day)))]
    if end is not None:
        events.append((end, 1, lambda: sim.finish_run(tokyo(day, end), runs["id"], asset, day, duration(asset))))
    return events


def play_day(sim: Simulation, day: str, outcomes: dict[str, str]) -> None:
    """Everything that happens on ``day``, in time order, interleaved with the sensor ticks."""
    events = []  # (hh:mm, order, action)
    for asset in ASSET_DEFS:
        outcome = outcomes.get(asset)
        partition = None if asset == "weekly_model" else day
        took = duration(asset)
        if asset == LONG_TABLE:
            events += run_events(sim, asset, day, *(("06:35", "07:55") if outcome == LATE_START else ("05:30", "07:00")))
        elif outcome is None:
            events += [(t, 1, lambda t=t, a=a, p=p, took=took: sim.materialize(tokyo(day, t), a, p, took)) for t, a, p in on_time(asset, day)]
        elif outcome in (LATE, LATE_BETWEEN_TICKS, AFTER_LATE_UPSTREAM):
            at = {LATE: "09:00" if asset == "weekly_model" else "10:00", LATE_BETWEEN_TICKS: "08:05", AFTER_LATE_UPSTREAM: "10:20"}[outcome]
            events.append((at, 1, lambda at=at, a=asset, p=partition, took=took: sim.materialize(tokyo(day, at), a, p, took)))
        elif outcome in (FAILED, FAILED_RETRIED):
            events.append(("06:40", 1, lambda a=asset, p=partition: sim.fail_run(tokyo(day, "06:40"), ASSET_DEFS[a], p)))
            if outcome == FAILED_RETRIED:
                events.append(("07:10", 1, lambda a=asset, p=partition, took=took: sim.materialize(tokyo(day, "07:10"), a, p, took)))
        elif outcome in (SLOW, STUCK):
            events += run_events(sim, asset, day, "06:30", "09:00" if outcome == SLOW else None)
        elif outcome == OLD_BACKFILL:
            old = (date.fromisoformat(day) - timedelta(days=10)).isoformat()
            events.append(("07:00", 1, lambda a=asset, old=old, took=took: sim.materialize(tokyo(day, "07:00"), a, old, took)))
    events += [(t, 0, lambda t=t: sim.tick(tokyo(day, t))) for t in TICKS]  # a tick at hh:mm sees events before it
    for _, _, action in sorted(events, key=lambda e: (e[0], e[1])):
        action()


def seed_history(sim: Simulation) -> None:
    """The day before the simulation was on time (and the model trained on the Monday before)."""
    for asset in ASSET_DEFS:
        if asset == "weekly_model":
            sim.materialize(tokyo("2026-02-23", "06:00"), asset, None, duration(asset))
        else:
            t, _, partition = on_time(asset, "2026-02-28")[0]
            sim.materialize(tokyo("2026-02-28", t), asset, partition, duration(asset))


def as_rows(sim: Simulation) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for sent in sim.sent:
        alert = sent.alert
        kind = alert.kind.value.removeprefix("slo_")
        kind = ("resolved" if kind == "breach" else f"{kind} resolved") if alert.resolved else kind
        day = alert.partition or alert.incident[:10]
        cause = "" if alert.resolved else dict(alert.details)["cause"]
        rows.append((sent.at.strftime("%m-%d %H:%M"), kind, alert.asset, day, cause))
    return rows


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    log = tmp_path_factory.mktemp("alerts") / "alerts.jsonl"
    mp = pytest.MonkeyPatch()
    mp.setenv("ML_PLATFORM_TEST_ALERT_LOG", str(log))
    by_day: dict[str, dict[str, str]] = {}
    for day, asset, outcome in SCRIPT:
        by_day.setdefault(day, {})[asset] = outcome
    with tmpfs_instance() as instance:
        sim = Simulation(instance, log)
        with sim.one_clock():
            seed_history(sim)
            sim.start()
            restarted = None
            for day in DAYS:
                if day == RESTART_BEFORE:
                    sim.stop()  # the daemon and code location go away; only the instance remains
                    # What the restarted sensor reads: its stored cursor and, through it, the ledger store.
                    restarted = AlertLedger.load(instance, SLO_SENSOR, sim.sensor_ticks()[0].cursor, stored_state=STORED_STATE)
                    sim.start()
                play_day(sim, day, by_day.get(day, {}))
            sim.stop()
        report = attainment(instance, slo_catalog.defs.resolve_asset_graph(), days=30, now=tokyo("2026-03-31", "00:00"), target=0.99)
        yield sim, restarted, report
    mp.undo()


def first_breach(sim: Simulation, asset: str):
    return next(s.alert for s in sim.sent if s.alert.asset == asset and s.alert.kind.value == "slo_breach" and not s.alert.resolved)


def test_thirty_days_send_exactly_the_scripted_alerts(simulated):
    sim, _, _ = simulated
    assert as_rows(sim) == EXPECTED


def test_no_breach_alerts_twice_and_every_breach_resolves_once(simulated):
    sim, _, _ = simulated
    keys = [s.alert.key for s in sim.sent]
    assert len(keys) == len(set(keys))
    raised = {(s.alert.asset, s.alert.incident) for s in sim.sent if s.alert.kind.value == "slo_breach" and not s.alert.resolved}
    resolved = {(s.alert.asset, s.alert.incident) for s in sim.sent if s.alert.kind.value == "slo_breach" and s.alert.resolved}
    assert resolved <= raised
    # Every breach is resolved except table_16's first, superseded by its second (one open incident per table).
    assert raised - resolved == {("table_16", "2026-03-15T08:00:00+09:00")}


def test_restart_resumes_from_the_cursor_stored_in_the_instance(simulated):
    sim, restarted, _ = simulated
    assert "table_15" in {a.asset for a in restarted.open.values()}  # the open breach survived in storage
    assert all(tick.error is None for tick in sim.sensor_ticks())
    assert len(set(sim.tick_ids)) == len(DAYS) * len(TICKS)  # every simulated tick evaluated the sensor once


def test_failed_run_alert_carries_the_root_error_and_a_run_link(simulated):
    sim, _, _ = simulated
    alert = first_breach(sim, "table_07")
    details = dict(alert.details)
    assert slo_catalog.FAILING_ERROR in details["why"]
    assert details["run"] == f"http://dagster.test/runs/{alert.run_id}"
    assert alert.link == "http://dagster.test/assets/table_07"
    assert alert.owner == "team:demo" and alert.severity.value == "fatal"


def test_old_partition_backfill_does_not_hide_a_missing_partition(simulated):
    sim, _, _ = simulated
    alert = first_breach(sim, "table_14")
    details = dict(alert.details)
    assert details["partition"] == "2026-03-14"
    assert details["Dagster freshness"] == "PASS"  # Dagster's per-asset state is fooled; ours is not


def test_alert_goes_to_the_tables_own_channel_and_names_the_upstream(simulated):
    sim, _, _ = simulated
    table_20 = first_breach(sim, "table_20")
    assert table_20.channel == "#table-20-alerts"
    table_13 = first_breach(sim, "table_13")
    assert "weekly_model" in dict(table_13.details)["why"]
    stuck = next(s.alert for s in sim.sent if s.alert.asset == "table_09")
    assert "started at 2026-03-10 06:30 JST, running for 1h40m" in dict(stuck.details)["why"]


def test_consumer_of_a_late_product_breaches_once_naming_the_upstream_and_its_cause(simulated):
    sim, _, _ = simulated
    incident = "2026-03-18T08:00:00+09:00"
    for table in sorted(slo_catalog.ON_FEATURES):
        alerts = [s.alert for s in sim.sent if s.alert.asset == table and s.alert.incident == incident and s.alert.kind.value == "slo_breach"]
        assert [a.resolved for a in alerts] == [False, True]  # one breach, one resolution once it landed
        why = dict(alerts[0].details)["why"]
        assert why.startswith("upstream table features is late too — features: no_run, no run started")
        assert "schedule feeds_schedule is running but started no run for it" in why  # the upstream's own cause
        assert alerts[1].title.startswith(f"SLO recovered: {table} materialized at 2026-03-18 10:20 JST")


def test_report_numbers_match_the_scripted_history(simulated):
    _, _, report = simulated
    rows = {row.asset: row for row in report.rows}
    assert rows["table_05"].deadlines == 30 and rows["table_05"].on_time == 30 and rows["table_05"].breaches == 0
    assert (rows["table_01"].late, rows["table_01"].missed, rows["table_01"].worst_lateness_minutes) == (1, 0, 120)
    assert (rows["table_22"].late, rows["table_22"].worst_lateness_minutes) == (1, 5)
    assert (rows["table_08"].missed, rows["table_08"].late) == (1, 0)
    assert rows["table_16"].missed == 2 and rows["table_16"].on_time == 28
    assert rows["table_03"].mean_lateness_minutes == 60  # the slow run landed at 09:00
    assert rows["table_09"].missed == 1  # stuck run: the partition never arrived
    assert rows["table_14"].missed == 1  # the backfill of 03-04 counts for nothing
    assert rows["weekly_model"].deadlines == 5 and rows["weekly_model"].late == 1  # Mondays 03-02 .. 03-30
    assert rows["weekly_model"].worst_lateness_minutes == 120
    assert rows["features"].missed == 1
    assert rows["table_01"].on_time_ratio == pytest.approx(29 / 30)
    # 99 % of 30 deadlines allows 0.3 breaches: one breach leaves -0.7.
    assert rows["table_01"].budget_left == pytest.approx(0.3 - 1)


def at_risk_warnings(sim: Simulation) -> list:
    return [s for s in sim.sent if s.alert.kind.value == "slo_at_risk" and not s.alert.resolved]


def test_at_risk_warnings_come_ahead_with_the_predicted_finish_and_the_critical_path(simulated):
    sim, _, _ = simulated
    predicted = [s for s in at_risk_warnings(sim) if s.alert.source is None]
    lead = {(s.alert.asset, s.alert.incident[:10]): (datetime.fromisoformat(s.alert.incident) - s.at) for s in predicted}
    assert lead[(slo_catalog.MODEL.name, "2026-03-16")] == timedelta(minutes=30)
    assert lead[(LONG_TABLE, "2026-03-24")] == timedelta(minutes=90)  # its run had not started at 06:30
    assert min(lead.values()) == timedelta(minutes=15)  # the 07:45 tick: every warning came before its deadline
    table_10 = dict(next(s.alert for s in predicted if s.alert.asset == "table_10").details)
    assert table_10["predicted finish"] == "2026-03-12 08:15 JST"  # features (p90 10 min) then table_10 (20 min)
    assert table_10["critical path"].startswith("waits for features (predicted at 07:55 JST, 1h55m after its own deadline)")
    assert "critical path features → table_10" in table_10["critical path"]
    long_run = next(s.alert for s in predicted if s.alert.asset == LONG_TABLE)
    assert dict(long_run.details)["critical path"] == "its run has not started, p90 90 min"


def test_drift_warns_days_before_the_first_miss_and_resolves_when_it_missed(simulated):
    sim, _, _ = simulated
    [drift] = [s for s in at_risk_warnings(sim) if s.alert.source == "drift"]
    assert drift.alert.asset == DRIFTING_TABLE
    first_miss = next(s for s in sim.sent if s.alert.asset == DRIFTING_TABLE and s.alert.kind.value == "slo_breach")
    assert first_miss.at - drift.at >= timedelta(days=5)
    assert "min later each day" in drift.alert.title and "misses its 08:00 JST deadline in about" in drift.alert.title
    assert dict(drift.alert.details)["cause"] == "completion_drift"


def test_the_happy_path_raises_nothing(simulated):
    sim, _, _ = simulated
    never_scripted = {"table_05", "table_17", "table_18"}
    assert [s for s in sim.sent if s.alert.asset in never_scripted] == []
    quiet_days = {"03-01", "03-02", "03-07", "03-09", "03-17", "03-19", "03-21", "03-27", "03-28", "03-29", "03-30"}
    assert [s for s in sim.sent if s.at.strftime("%m-%d") in quiet_days and not s.alert.resolved] == []
