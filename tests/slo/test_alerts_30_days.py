"""30 simulated days, 22 prediction tables of a clock-scheduled product, a feature table of another
product with its quality checks, a weekly model, and five tables that read the feature table and
are launched on data: scripted outcomes in, the exact list of alerts and of launched runs out —
with a sensor restart (cursor read back from the instance) in the middle.

Nothing about the tables launched on data is scripted: at every tick the catalog's two automation
sensors (``cross_product_launch_demo``, ``..._overseas``) are evaluated with Dagster's evaluator
(``dg.evaluate_automation_conditions``, each with its cursor, at the tick's frozen time), and the
runs they request are played (start at once, land after their tables' durations). The feature
table's runs write its check results as a check step does.

Deadlines (Asia/Tokyo): features 06:00 daily, weekly_model Monday 07:00, tables 08:00 daily
(weekly_report Mondays only), overseas_digest 01:00 UTC (10:00 Tokyo; its UTC partition of a date
exists from 09:00 Tokyo); table_01..05 warn 30 min ahead. Unless scripted, every day is on time:
features' run lands at 05:30 and its checks pass at 05:30:30; the clock's tables land at 07:00, the
model on Mondays at 06:00. Ticks: 06:30, 07:45, 08:10, 09:00, 12:00, and every 30 s inside the
windows around the deadlines and predicted crossings of the scenario days (``WINDOWS``): lead times
asserted there come from the predictor, not from the tick spacing.

Each materialization records its step duration (``DURATIONS``): the at-risk predictions read it.
table_19 is a long table (90 min) whose run starts at 05:30; table_21's landing drifts 4 min later
each day from 03-10 until it misses on 03-26, then is fixed.

The launch scenarios: a WARN on the input (03-05: launched as usual); an ERROR on the input (03-09,
a Monday: held, named in the breach; its owner re-runs the input at 09:00); the input never lands
(03-12); it is fixed at 10:05, after its consumers' deadlines (03-13: re-launched, stale reads); it
lands four hours late (03-18); its run fails, is re-run, and is corrected again while
its consumers run (03-20); a backfill of ten past dates (03-27, one ranged run at 13:00). The
cross-zone consumer (overseas_digest, UTC) reads the Tokyo partition of the same date throughout.
"""

from datetime import date, datetime, timedelta

import dagster as dg
import pytest

from ml_platform.alerting import AlertLedger
from ml_platform.checks import row_count, sanity
from ml_platform.checks.quality_checks import check_names
from ml_platform.compute.run_limits import MAX_RUNTIME_TAG
from ml_platform.declaration import PRODUCT_TAG
from ml_platform.slo.alerts import SENSOR_NAME as SLO_SENSOR
from ml_platform.slo.alerts import STORED_STATE
from ml_platform.slo.report import attainment
from tests.fixtures import slo_catalog
from tests.fixtures.slo_simulation import Simulation, Timeline, tmpfs_instance, tokyo

DAYS = [(date(2026, 3, 1) + timedelta(days=i)).isoformat() for i in range(30)]
TICKS = ["06:30", "07:45", "08:10", "09:00", "12:00"]
RESTART_BEFORE = "2026-03-16"

# Outcomes: what happens to a table on a day instead of its on-time materialization.
LATE = "late"  # materialized at 10:00 (09:00 for the model), no run before; features: its run lands at 10:00
LATE_BETWEEN_TICKS = "late_between_ticks"  # materialized at 08:05, fresh again by the next tick
FAILED_RETRIED = "failed_retried"  # a run fails at 06:40, a retry materializes at 07:10
FAILED = "failed"  # a run fails at 06:40, nothing else
NEVER = "never"  # no run at all
SLOW = "slow"  # a run starts at 06:30 and materializes at 09:00
STUCK = "stuck"  # a run starts at 06:30 and hangs
OLD_BACKFILL = "old_backfill"  # only the partition of ten days earlier is materialized, at 07:00
LATE_START = "late_start"  # the long table's run starts at 06:35 instead of 05:30 and lands at 07:55
# features only:
WARN_INPUT = "warn_input"  # row_count_change fails with WARN (the catalog grew for good)
ERROR_INPUT = "error_input"  # duplicate_keys fails with ERROR; re-run at 09:00, passing
FAILED_THEN_FIXED = "failed_then_fixed"  # its run fails at 05:30; re-run 06:05-06:15, corrected again 06:20-06:30
BACKFILL = "backfill"  # on time, then one ranged run re-materializes ten past dates at 13:10
FIXED_AFTER_DEADLINE = "fixed_after_deadline"  # on time, then re-run (a fix) landing at 10:05, after its readers read

DURATIONS = {"features": 600, "weekly_model": 1800, "table_19": 5400}  # seconds; other tables 1200
LONG_TABLE, DRIFTING_TABLE = "table_19", "table_21"
DRIFT_START, DRIFT_END, DRIFT_MINUTES = date(2026, 3, 10), date(2026, 3, 26), 4
BACKFILLED = [(date(2026, 3, 17) + timedelta(days=i)).isoformat() for i in range(10)]  # 03-17 .. 03-26

SCRIPT = [
    ("2026-03-03", "table_01", LATE),
    ("2026-03-04", "table_02", FAILED_RETRIED),
    ("2026-03-05", "table_06", FAILED_RETRIED),
    ("2026-03-05", "features", WARN_INPUT),
    ("2026-03-06", "table_07", FAILED),
    ("2026-03-09", "features", ERROR_INPUT),
    ("2026-03-10", "table_08", NEVER),  # the same day as the stuck run: warned at the same tick
    ("2026-03-10", "table_09", STUCK),
    ("2026-03-11", "table_03", SLOW),
    ("2026-03-12", "features", NEVER),
    ("2026-03-13", "features", FIXED_AFTER_DEADLINE),
    ("2026-03-14", "table_14", OLD_BACKFILL),
    ("2026-03-15", "table_15", NEVER),  # open across the restart
    ("2026-03-15", "table_16", NEVER),
    ("2026-03-16", "table_16", NEVER),  # a second missed deadline: a new breach
    ("2026-03-16", "weekly_model", LATE),
    ("2026-03-16", "table_13", LATE),
    ("2026-03-18", "features", LATE),  # another product's table, hours late: its consumers wait
    ("2026-03-20", "features", FAILED_THEN_FIXED),
    ("2026-03-20", "table_20", LATE),
    ("2026-03-22", "table_04", FAILED),
    ("2026-03-24", LONG_TABLE, LATE_START),
    ("2026-03-25", "table_22", LATE_BETWEEN_TICKS),
    ("2026-03-27", "features", BACKFILL),
]

# Every 30 s, first and last tick included: around deadlines and predicted crossings of the scenario days,
# from one tick before each (it proves the crossing is not earlier: lead times come from the predictor).
WINDOWS = {
    "2026-03-09": [("07:30", "07:31"), ("07:59:30", "08:00:30"), ("09:10", "09:11:30")],  # at risk 07:30:30, breach, launch after the re-run
    "2026-03-10": [("07:30", "07:31"), ("07:59:30", "08:00:30")],  # the stuck and the never-started run: at risk at 07:30:30
    "2026-03-13": [("10:05", "10:06"), ("10:26", "10:27")],  # the fix lands at 10:05: re-launch, stale read, rebuilt
    "2026-03-16": [("06:20", "06:21")],  # the weekly model (30 min): at risk at 06:20:30
    "2026-03-18": [("07:59:30", "08:00:30"), ("09:59", "10:01")],  # breach; the late input lands at 10:00, launch
    "2026-03-20": [("05:30", "05:31"), ("05:59:30", "06:00:30"), ("06:15", "06:16"), ("06:36", "06:37")],  # failure, breach, fix, re-launch
    "2026-03-24": [("06:20", "06:21")],  # the long table (90 min): at risk at 06:20:30
    "2026-03-27": [("13:10", "13:11"), ("13:31", "13:32")],  # the backfill lands, its consumers re-launched and rebuilt
}

# (tick, kind, asset, partition or deadline date, cause); resolutions have no cause; a data-quality row has its severity.
EXPECTED = [
    ('03-03 07:45:00', 'warning', 'table_01', '2026-03-03', 'no_run'),
    ('03-03 08:10:00', 'breach', 'table_01', '2026-03-03', 'no_run'),
    ('03-03 12:00:00', 'resolved', 'table_01', '2026-03-03', ''),
    # 03-05: a WARN on the input: its alert only; the consumers are launched as usual
    ('03-05 06:30:00', 'data_quality', 'features', '2026-03-05', 'warn'),
    ('03-06 07:45:00', 'at_risk', 'table_07', '2026-03-06', 'run_failed'),
    ('03-06 08:10:00', 'breach', 'table_07', '2026-03-06', 'run_failed'),
    ('03-06 08:10:00', 'at_risk resolved', 'table_07', '2026-03-06', ''),
    ('03-07 08:10:00', 'resolved', 'table_07', '2026-03-06', ''),
    # 03-09 (Monday): an ERROR on the input holds its consumers, named in their alerts; fixed by a re-run at 09:00
    ('03-09 06:30:00', 'data_quality', 'features', '2026-03-09', 'error'),
    ('03-09 07:30:30', 'at_risk', 'table_10', '2026-03-09', 'upstream_blocked'),
    ('03-09 07:30:30', 'at_risk', 'weekly_report', '2026-03-09', 'upstream_blocked'),
    ('03-09 08:00:00', 'breach', 'table_10', '2026-03-09', 'upstream_blocked'),
    ('03-09 08:00:00', 'at_risk resolved', 'table_10', '2026-03-09', ''),
    ('03-09 08:00:00', 'breach', 'weekly_report', '2026-03-09', 'upstream_blocked'),
    ('03-09 08:00:00', 'at_risk resolved', 'weekly_report', '2026-03-09', ''),
    ('03-09 09:11:00', 'data_quality resolved', 'features', '2026-03-09', ''),
    ('03-09 12:00:00', 'resolved', 'table_10', '2026-03-09', ''),
    ('03-09 12:00:00', 'resolved', 'weekly_report', '2026-03-09', ''),
    # 03-10: the never-started and the stuck run are warned at the same tick, as the predictor says
    ('03-10 07:30:30', 'at_risk', 'table_08', '2026-03-10', 'no_run'),
    ('03-10 07:30:30', 'at_risk', 'table_09', '2026-03-10', 'run_in_progress'),
    ('03-10 08:00:00', 'breach', 'table_08', '2026-03-10', 'no_run'),
    ('03-10 08:00:00', 'at_risk resolved', 'table_08', '2026-03-10', ''),
    ('03-10 08:00:00', 'breach', 'table_09', '2026-03-10', 'run_in_progress'),
    ('03-10 08:00:00', 'at_risk resolved', 'table_09', '2026-03-10', ''),
    ('03-11 07:45:00', 'warning', 'table_03', '2026-03-11', 'run_in_progress'),
    ('03-11 08:10:00', 'breach', 'table_03', '2026-03-11', 'run_in_progress'),
    ('03-11 08:10:00', 'resolved', 'table_08', '2026-03-10', ''),
    ('03-11 08:10:00', 'resolved', 'table_09', '2026-03-10', ''),
    ('03-11 12:00:00', 'resolved', 'table_03', '2026-03-11', ''),
    # 03-12: the input never lands: its consumers are never launched
    ('03-12 06:30:00', 'breach', 'features', '2026-03-12', 'no_run'),
    ('03-12 07:45:00', 'at_risk', 'table_10', '2026-03-12', 'upstream_late'),
    ('03-12 08:10:00', 'breach', 'table_10', '2026-03-12', 'upstream_late'),
    ('03-12 08:10:00', 'at_risk resolved', 'table_10', '2026-03-12', ''),
    ('03-12 12:00:00', 'breach', 'overseas_digest', '2026-03-12', 'upstream_late'),
    ('03-13 06:30:00', 'resolved', 'features', '2026-03-12', ''),
    ('03-13 08:10:00', 'resolved', 'table_10', '2026-03-12', ''),
    ('03-13 10:05:00', 'resolved', 'overseas_digest', '2026-03-12', ''),
    # 03-13: the input fixed at 10:05, after the deadlines: the readers are told; re-launched and rebuilt
    ('03-13 10:05:30', 'stale_read', 'overseas_digest', '2026-03-13', 'input_changed'),
    ('03-13 10:05:30', 'stale_read', 'table_10', '2026-03-13', 'input_changed'),
    ('03-13 10:26:30', 'stale_read resolved', 'table_10', '2026-03-13', ''),
    ('03-13 10:26:30', 'stale_read resolved', 'overseas_digest', '2026-03-13', ''),
    ('03-14 07:45:00', 'at_risk', 'table_14', '2026-03-14', 'no_run'),
    ('03-14 08:10:00', 'breach', 'table_14', '2026-03-14', 'no_run'),
    ('03-14 08:10:00', 'at_risk resolved', 'table_14', '2026-03-14', ''),
    ('03-15 07:45:00', 'at_risk', 'table_15', '2026-03-15', 'no_run'),
    ('03-15 07:45:00', 'at_risk', 'table_16', '2026-03-15', 'no_run'),
    ('03-15 08:10:00', 'resolved', 'table_14', '2026-03-14', ''),
    ('03-15 08:10:00', 'breach', 'table_15', '2026-03-15', 'no_run'),
    ('03-15 08:10:00', 'at_risk resolved', 'table_15', '2026-03-15', ''),
    ('03-15 08:10:00', 'breach', 'table_16', '2026-03-15', 'no_run'),
    ('03-15 08:10:00', 'at_risk resolved', 'table_16', '2026-03-15', ''),
    # restart
    ('03-16 06:20:30', 'at_risk', 'weekly_model', '2026-03-16', 'no_run'),
    ('03-16 07:45:00', 'at_risk', 'table_13', '2026-03-16', 'upstream_late'),
    ('03-16 07:45:00', 'at_risk', 'table_16', '2026-03-16', 'no_run'),
    ('03-16 07:45:00', 'breach', 'weekly_model', '2026-03-16', 'no_run'),
    ('03-16 07:45:00', 'at_risk resolved', 'weekly_model', '2026-03-16', ''),
    ('03-16 08:10:00', 'breach', 'table_13', '2026-03-16', 'upstream_late'),
    ('03-16 08:10:00', 'at_risk resolved', 'table_13', '2026-03-16', ''),
    ('03-16 08:10:00', 'resolved', 'table_15', '2026-03-15', ''),
    ('03-16 08:10:00', 'breach', 'table_16', '2026-03-16', 'no_run'),
    ('03-16 08:10:00', 'at_risk resolved', 'table_16', '2026-03-16', ''),
    ('03-16 12:00:00', 'resolved', 'table_13', '2026-03-16', ''),
    ('03-16 12:00:00', 'resolved', 'weekly_model', '2026-03-16', ''),
    ('03-17 08:10:00', 'resolved', 'table_16', '2026-03-16', ''),
    # 03-18: the input lands at 10:00: its consumers wait, then are launched within 30 s
    ('03-18 06:30:00', 'breach', 'features', '2026-03-18', 'no_run'),
    ('03-18 07:45:00', 'at_risk', 'table_10', '2026-03-18', 'upstream_late'),
    ('03-18 08:00:00', 'breach', 'table_10', '2026-03-18', 'upstream_late'),
    ('03-18 08:00:00', 'at_risk resolved', 'table_10', '2026-03-18', ''),
    ('03-18 09:59:00', 'at_risk', 'overseas_digest', '2026-03-18', 'upstream_late'),
    ('03-18 10:00:00', 'breach', 'overseas_digest', '2026-03-18', 'upstream_late'),
    ('03-18 10:00:00', 'at_risk resolved', 'overseas_digest', '2026-03-18', ''),
    ('03-18 10:00:30', 'resolved', 'features', '2026-03-18', ''),
    ('03-18 12:00:00', 'resolved', 'overseas_digest', '2026-03-18', ''),
    ('03-18 12:00:00', 'resolved', 'table_10', '2026-03-18', ''),
    # 03-20: the input's run fails at 05:30: blocked at once; re-run, and corrected again while its consumer runs
    ('03-20 05:30:30', 'at_risk', 'features', '2026-03-20', 'run_failed'),
    ('03-20 05:30:30', 'at_risk', 'overseas_digest', '2026-03-20', 'upstream_failed'),
    ('03-20 05:30:30', 'at_risk', 'table_10', '2026-03-20', 'upstream_failed'),
    ('03-20 06:00:00', 'breach', 'features', '2026-03-20', 'run_failed'),
    ('03-20 06:00:00', 'at_risk resolved', 'features', '2026-03-20', ''),
    ('03-20 06:15:30', 'resolved', 'features', '2026-03-20', ''),
    ('03-20 06:36:30', 'at_risk resolved', 'table_10', '2026-03-20', ''),
    ('03-20 07:45:00', 'at_risk', 'table_20', '2026-03-20', 'no_run'),
    ('03-20 08:10:00', 'breach', 'table_20', '2026-03-20', 'no_run'),
    ('03-20 08:10:00', 'at_risk resolved', 'table_20', '2026-03-20', ''),
    ('03-20 12:00:00', 'at_risk resolved', 'overseas_digest', '2026-03-20', ''),
    ('03-20 12:00:00', 'resolved', 'table_20', '2026-03-20', ''),
    # table_21's drift: warned days ahead, then on each day it is predicted late, then it misses
    ('03-20 12:00:00', 'at_risk', 'table_21', '2026-03-20', 'completion_drift'),
    ('03-22 07:45:00', 'warning', 'table_04', '2026-03-22', 'run_failed'),
    ('03-22 07:45:00', 'at_risk', 'table_21', '2026-03-22', 'no_run'),
    ('03-22 08:10:00', 'breach', 'table_04', '2026-03-22', 'run_failed'),
    ('03-22 08:10:00', 'at_risk resolved', 'table_21', '2026-03-22', ''),
    ('03-23 07:45:00', 'at_risk', 'table_21', '2026-03-23', 'no_run'),
    ('03-23 08:10:00', 'resolved', 'table_04', '2026-03-22', ''),
    ('03-23 08:10:00', 'at_risk resolved', 'table_21', '2026-03-23', ''),
    ('03-24 06:20:30', 'at_risk', 'table_19', '2026-03-24', 'no_run'),
    ('03-24 07:45:00', 'at_risk', 'table_21', '2026-03-24', 'no_run'),
    ('03-24 08:10:00', 'at_risk resolved', 'table_19', '2026-03-24', ''),
    ('03-24 08:10:00', 'at_risk resolved', 'table_21', '2026-03-24', ''),
    ('03-25 07:45:00', 'at_risk', 'table_21', '2026-03-25', 'no_run'),
    ('03-25 07:45:00', 'at_risk', 'table_22', '2026-03-25', 'no_run'),
    ('03-25 08:10:00', 'at_risk resolved', 'table_21', '2026-03-25', ''),
    ('03-25 08:10:00', 'breach', 'table_22', '2026-03-25', 'materialized_late'),
    ('03-25 08:10:00', 'resolved', 'table_22', '2026-03-25', ''),
    ('03-25 08:10:00', 'at_risk resolved', 'table_22', '2026-03-25', ''),
    ('03-26 07:45:00', 'at_risk', 'table_21', '2026-03-26', 'no_run'),
    ('03-26 08:10:00', 'breach', 'table_21', '2026-03-26', 'materialized_late'),
    ('03-26 08:10:00', 'resolved', 'table_21', '2026-03-26', ''),
    ('03-26 08:10:00', 'at_risk resolved', 'table_21', '2026-03-26', ''),
    ('03-27 06:30:00', 'at_risk resolved', 'table_21', '2026-03-20', ''),
    # 03-27: a backfill of ten past dates: one message per consumer, one resolution once all are rebuilt
    ('03-27 13:10:30', 'stale_read', 'overseas_digest', '2026-03-17…2026-03-26', 'input_changed'),
    ('03-27 13:10:30', 'stale_read', 'table_10', '2026-03-17…2026-03-26', 'input_changed'),
    ('03-27 13:10:30', 'stale_read', 'weekly_report', '2026-03-23', 'input_changed'),
    ('03-27 13:31:30', 'stale_read resolved', 'weekly_report', '2026-03-23', ''),
    ('03-27 13:31:30', 'stale_read resolved', 'table_10', '2026-03-17…2026-03-26', ''),
    ('03-27 13:31:30', 'stale_read resolved', 'overseas_digest', '2026-03-17…2026-03-26', ''),
]

ASSET_DEFS = {a.key.to_user_string(): a for a in slo_catalog.ASSETS}
LAUNCHED = slo_catalog.LAUNCHED  # launched on data by the catalog's automation sensors: never scripted
FEATURE_CHECKS = check_names(slo_catalog.FEATURES.expectations)


def on_time(asset: str, day: str) -> list[tuple[str, str, str | None]]:
    """(time, asset, partition) materializations of an unscripted day (the clock's tables)."""
    if asset == "weekly_model":
        return [("06:00", asset, None)] if date.fromisoformat(day).weekday() == 0 else []
    if asset == DRIFTING_TABLE and DRIFT_START <= date.fromisoformat(day) <= DRIFT_END:
        minutes = 7 * 60 + DRIFT_MINUTES * (date.fromisoformat(day) - DRIFT_START).days
        return [(f"{minutes // 60:02d}:{minutes % 60:02d}", asset, day)]
    if asset == slo_catalog.WEEKLY_REPORT:
        return [("07:00", asset, day)] if date.fromisoformat(day).weekday() == 0 else []
    return [("05:30" if asset == "features" else "07:00", asset, day)]


def duration(asset: str) -> float:
    return DURATIONS.get(asset, 1200)


def ticks(day: str) -> list[datetime]:
    """The day's ticks: the coarse ones, and every 30 s inside its windows."""
    found = {tokyo(day, t) for t in TICKS}
    for first, last in WINDOWS.get(day, ()):
        t, end = tokyo(day, first), tokyo(day, last)
        while t <= end:
            found.add(t)
            t += timedelta(seconds=30)
    return sorted(found)


class Day:
    """Schedules one simulated day's scripted events on the timeline; the sensor ticks play the
    runs the launch sensors request (start at once, land after their tables' durations)."""

    def __init__(self, sim: Simulation, timeline: Timeline, launched: list):
        self.sim, self.timeline, self.launched = sim, timeline, launched

    def at(self, when: datetime, action) -> None:
        self.timeline.at(when, action)

    def schedule(self, day: str, outcomes: dict[str, str]) -> None:
        sim = self.sim
        for asset in ASSET_DEFS:
            outcome = outcomes.get(asset)
            partition = None if asset == "weekly_model" else day
            took = duration(asset)
            if asset in LAUNCHED:
                continue
            if asset == "features":
                self.features(day, outcome)
            elif asset == LONG_TABLE:
                self.run(asset, day, *(("06:35", "07:55") if outcome == LATE_START else ("05:30", "07:00")))
            elif outcome is None:
                for t, a, p in on_time(asset, day):
                    self.at(tokyo(day, t), lambda t=t, a=a, p=p, took=took: sim.materialize(tokyo(day, t), a, p, took))
            elif outcome in (LATE, LATE_BETWEEN_TICKS):
                at = {LATE: "09:00" if asset == "weekly_model" else "10:00", LATE_BETWEEN_TICKS: "08:05"}[outcome]
                self.at(tokyo(day, at), lambda at=at, a=asset, p=partition, took=took: sim.materialize(tokyo(day, at), a, p, took))
            elif outcome in (FAILED, FAILED_RETRIED):
                self.at(tokyo(day, "06:40"), lambda a=asset, p=partition: sim.fail_run(tokyo(day, "06:40"), ASSET_DEFS[a], p))
                if outcome == FAILED_RETRIED:
                    self.at(tokyo(day, "07:10"), lambda a=asset, p=partition, took=took: sim.materialize(tokyo(day, "07:10"), a, p, took))
            elif outcome in (SLOW, STUCK):
                self.run(asset, day, "06:30", "09:00" if outcome == SLOW else None)
            elif outcome == OLD_BACKFILL:
                old = (date.fromisoformat(day) - timedelta(days=10)).isoformat()
                self.at(tokyo(day, "07:00"), lambda a=asset, old=old, took=took: sim.materialize(tokyo(day, "07:00"), a, old, took))
        for when in ticks(day):
            self.timeline.at(when, lambda when=when: self.tick(when), order=0)  # a tick at hh:mm sees events before it

    def run(self, asset: str, day: str, start: str, end: str | None) -> None:
        """A run of ``asset`` for ``day`` that starts at ``start`` and lands at ``end`` (None: never)."""
        runs = {}
        self.at(tokyo(day, start), lambda: runs.update(id=self.sim.start_run(tokyo(day, start), asset, day)))
        if end is not None:
            self.at(tokyo(day, end), lambda: self.sim.finish_run(tokyo(day, end), runs["id"], asset, day, duration(asset)))

    def features(self, day: str, outcome: str | None) -> None:
        """The producer: a run that lands at 05:30 and checks it (the consumers' input)."""
        if outcome == NEVER:
            return
        if outcome == BACKFILL:  # its usual day, then one ranged run over ten past dates
            self.features(day, None)
            self.producer_run(day, "13:00", BACKFILLED)
            return
        if outcome == FIXED_AFTER_DEADLINE:  # its usual day, then a fix after its consumers' readers read
            self.features(day, None)
            self.producer_run(day, "09:55", [day])
            return
        start = {LATE: "09:50", ERROR_INPUT: "05:20", FAILED_THEN_FIXED: "05:20"}.get(outcome, "05:20")
        if outcome == FAILED_THEN_FIXED:
            runs = {}
            self.at(tokyo(day, start), lambda: runs.update(id=self.sim.start_run(tokyo(day, start), "features", day)))
            self.at(tokyo(day, "05:30"), lambda: self.sim.run_ended(tokyo(day, "05:30"), runs["id"], success=False))
            self.producer_run(day, "06:05", [day])  # the owner re-runs it
            self.producer_run(day, "06:20", [day])  # and corrects it once more while its consumers run
            return
        failed = {WARN_INPUT: {row_count.CHANGE_CHECK}, ERROR_INPUT: {sanity.DUPLICATE_CHECK}}.get(outcome, set())
        severity = dg.AssetCheckSeverity.WARN if outcome == WARN_INPUT else dg.AssetCheckSeverity.ERROR
        self.producer_run(day, start, [day], failed, severity)
        if outcome == ERROR_INPUT:
            self.producer_run(day, "09:00", [day])  # its owner fixes the data and re-runs the partition

    def producer_run(self, day: str, start: str, partitions: list[str], failed=frozenset(), severity=dg.AssetCheckSeverity.ERROR) -> None:
        """features' run from ``start``: lands its partitions 10 min later, checks them, ends a minute after."""
        sim, runs, began = self.sim, {}, tokyo(day, start)
        landed, checked, ended = began + timedelta(minutes=10), began + timedelta(minutes=10, seconds=30), began + timedelta(minutes=11)
        self.at(began, lambda: runs.update(id=sim.start_run(began, "features", partitions)))
        for p in partitions:
            self.at(landed, lambda p=p: sim.land(landed, runs["id"], "features", p, duration("features")))
            self.at(checked, lambda p=p: sim.check_results(checked, runs["id"], "features", p, FEATURE_CHECKS, failed, severity))
        self.at(ended, lambda: sim.run_ended(ended, runs["id"]))

    def tick(self, when: datetime) -> None:
        for run in self.sim.tick(when):
            self.play(run, when)

    def play(self, run: dg.DagsterRun, when: datetime) -> None:
        """A run a launch sensor requested: it starts at once and lands after its tables' durations."""
        assets = sorted(k.to_user_string() for k in run.asset_selection)
        partition = run.tags["dagster/partition"]
        self.launched.append((when.strftime("%m-%d %H:%M:%S"), run.tags[PRODUCT_TAG], partition, tuple(assets), run.tags[MAX_RUNTIME_TAG]))
        landed = when + timedelta(seconds=max(duration(a) for a in assets))
        self.at(when, lambda: self.sim.run_started(when, run.run_id))
        for asset in assets:
            self.at(landed, lambda asset=asset: self.sim.land(landed, run.run_id, asset, partition, duration(asset)))
        self.at(landed, lambda: self.sim.run_ended(landed, run.run_id))


def seed_history(sim: Simulation) -> None:
    """The day before the simulation was on time (and the Monday tables ran the Monday before)."""
    for asset in ASSET_DEFS:
        if asset == "weekly_model":
            sim.materialize(tokyo("2026-02-23", "06:00"), asset, None, duration(asset))
        elif asset == slo_catalog.WEEKLY_REPORT:
            sim.materialize(tokyo("2026-02-23", "07:00"), asset, "2026-02-23", duration(asset))
        else:
            sim.materialize(tokyo("2026-02-28", "05:30" if asset == "features" else "07:00"), asset, "2026-02-28", duration(asset))


def as_rows(sim: Simulation) -> list[tuple[str, str, str, str, str]]:
    """(tick, kind, asset, partition or deadline date, cause); a data-quality row carries its severity."""
    rows = []
    for sent in sim.sent:
        alert = sent.alert
        kind = alert.kind.value.removeprefix("slo_")
        kind = ("resolved" if kind == "breach" else f"{kind} resolved") if alert.resolved else kind
        group = alert.incident.startswith("group:")
        day = alert.partition or (alert.incident.removeprefix("group:") if group else alert.incident[:10])
        if alert.resolved:
            cause = ""
        else:
            cause = alert.severity.value if alert.kind.value == "data_quality" else dict(alert.details)["cause"]
        rows.append((sent.at.strftime("%m-%d %H:%M:%S"), kind, alert.asset, day, cause))
    return rows


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    log = tmp_path_factory.mktemp("alerts") / "alerts.jsonl"
    mp = pytest.MonkeyPatch()
    mp.setenv("ML_PLATFORM_TEST_ALERT_LOG", str(log))
    by_day: dict[str, dict[str, str]] = {}
    for day, asset, outcome in SCRIPT:
        by_day.setdefault(day, {})[asset] = outcome
    launched: list = []
    with tmpfs_instance() as instance:
        sim = Simulation(instance, log, slo_catalog.defs, slo_catalog.LAUNCH_SENSORS)
        with sim.one_clock():
            seed_history(sim)
            sim.start()
            restarted = None
            timeline = Timeline()
            for day in DAYS:
                if day == RESTART_BEFORE:
                    timeline.run_until(tokyo(day, "00:00") - timedelta(seconds=1))
                    sim.stop()  # the daemon and code location go away; only the instance remains
                    # What the restarted sensor reads: its stored cursor and, through it, the ledger store.
                    restarted = AlertLedger.load(instance, SLO_SENSOR, sim.sensor_ticks()[0].cursor, stored_state=STORED_STATE)
                    sim.start()
                Day(sim, timeline, launched).schedule(day, by_day.get(day, {}))
                timeline.run_until(tokyo(day, "23:59"))
            sim.stop()
        report = attainment(instance, slo_catalog.defs.resolve_asset_graph(), days=30, now=tokyo("2026-03-31", "00:00"), target=0.99)
        yield sim, restarted, report, launched
    mp.undo()


def first_breach(sim: Simulation, asset: str):
    return next(s.alert for s in sim.sent if s.alert.asset == asset and s.alert.kind.value == "slo_breach" and not s.alert.resolved)


def test_thirty_days_send_exactly_the_scripted_alerts(simulated):
    sim, *_ = simulated
    assert as_rows(sim) == EXPECTED


def expected_runs() -> list[tuple]:
    """The runs the launch sensors request: each day, table_10 (and weekly_report on Mondays) at the
    first tick after features' checks passed, overseas_digest when its UTC day begins (09:00 Tokyo)."""
    moved = {  # (day, product) -> tick, where a scenario or a 30-s window changes it
        ("2026-03-09", "demo"): "09:11:00", ("2026-03-09", "overseas"): "09:11:00",  # held until the re-run passed at 09:10:30
        ("2026-03-16", "demo"): "06:20:00", ("2026-03-24", "demo"): "06:20:00",  # the day's first tick is its window's
        ("2026-03-18", "demo"): "10:01:00", ("2026-03-18", "overseas"): "10:01:00",  # the input landed at 10:00, checked at 10:00:30
        ("2026-03-20", "demo"): "06:16:00",  # the re-run's checks passed at 06:15:30
    }
    extra = [
        ("2026-03-13", "10:06:00", "demo", "2026-03-13"), ("2026-03-13", "10:06:00", "overseas", "2026-03-13"),  # the late fix
        ("2026-03-20", "06:36:30", "demo", "2026-03-20"),  # its first run read the input corrected at 06:30
        *[("2026-03-27", "13:11:00", product, day) for day in BACKFILLED for product in ("demo", "overseas")],  # the backfill
    ]
    runs = []
    for day in DAYS:
        if day == "2026-03-12":
            continue  # the input never landed
        runs.append((day, moved.get((day, "demo"), "06:30:00"), "demo", day))
        runs.append((day, moved.get((day, "overseas"), "09:00:00"), "overseas", day))
    found = []
    for tick_day, at, product, partition in [*runs, *extra]:
        monday = date.fromisoformat(partition).weekday() == 0
        assets = ("overseas_digest",) if product == "overseas" else ("table_10", "weekly_report") if monday else ("table_10",)
        found.append((f"{tick_day[5:]} {at}", product, partition, assets, "3600"))  # small profile: 1 h run time limit
    return sorted(found)


def test_the_launch_sensors_request_exactly_these_runs_with_the_product_tag_and_run_time_limit(simulated):
    *_, launched = simulated
    assert sorted(launched) == expected_runs()


def test_no_breach_alerts_twice_and_every_breach_resolves_once(simulated):
    sim, *_ = simulated
    keys = [s.alert.key for s in sim.sent]
    assert len(keys) == len(set(keys))
    raised = {(s.alert.asset, s.alert.incident) for s in sim.sent if s.alert.kind.value == "slo_breach" and not s.alert.resolved}
    resolved = {(s.alert.asset, s.alert.incident) for s in sim.sent if s.alert.kind.value == "slo_breach" and s.alert.resolved}
    assert resolved <= raised
    # Every breach is resolved except table_16's first, superseded by its second (one open incident per table).
    assert raised - resolved == {("table_16", "2026-03-15T08:00:00+09:00")}


def test_restart_resumes_from_the_cursor_stored_in_the_instance(simulated):
    sim, restarted, *_ = simulated
    assert "table_15" in {a.asset for a in restarted.open.values()}  # the open breach survived in storage
    assert all(tick.error is None for tick in sim.sensor_ticks())
    assert len(set(sim.tick_ids)) == sum(len(ticks(day)) for day in DAYS)  # every simulated tick evaluated the sensor once


def test_failed_run_alert_carries_the_root_error_and_a_run_link(simulated):
    sim, *_ = simulated
    alert = first_breach(sim, "table_07")
    details = dict(alert.details)
    assert slo_catalog.FAILING_ERROR in details["why"]
    assert details["run"] == f"http://dagster.test/runs/{alert.run_id}"
    assert alert.link == "http://dagster.test/assets/table_07"
    assert alert.owner == "team:demo" and alert.severity.value == "fatal"


def test_old_partition_backfill_does_not_hide_a_missing_partition(simulated):
    sim, *_ = simulated
    alert = first_breach(sim, "table_14")
    details = dict(alert.details)
    assert details["partition"] == "2026-03-14"
    assert details["Dagster freshness"] == "PASS"  # Dagster's per-asset state is fooled; ours is not


def test_alert_goes_to_the_tables_own_channel_and_names_the_upstream(simulated):
    sim, *_ = simulated
    table_20 = first_breach(sim, "table_20")
    assert table_20.channel == "#table-20-alerts"
    table_13 = first_breach(sim, "table_13")
    assert "weekly_model" in dict(table_13.details)["why"]
    stuck = first_breach(sim, "table_09")
    assert "started at 2026-03-10 06:30 JST, running for 1h30m" in dict(stuck.details)["why"]


def alerts_of(sim: Simulation, asset: str, day: str, kind: str, resolved: bool = False) -> list:
    return [s.alert for s in sim.sent if s.alert.asset == asset and s.alert.kind.value == kind and s.alert.resolved == resolved
            and (s.alert.partition or s.alert.incident[:10]) == day]


def test_consumers_of_a_late_input_breach_once_naming_it_and_its_cause_and_are_launched_when_it_lands(simulated):
    sim, *_ = simulated
    # the upstream's own cause at each consumer's deadline: at 08:00 no run had started; at 10:00 (01:00 UTC) its run of 09:50 ran
    upstream = {
        "table_10": ("no_run, no run started", "schedule feeds_schedule is running but started no run for it"),
        slo_catalog.OVERSEAS: ("run_in_progress, run ", "in progress: started at 2026-03-18 09:50 JST, running for 0h10m"),
    }
    for table, recovered in (("table_10", "2026-03-18 10:21 JST"), (slo_catalog.OVERSEAS, "2026-03-18 01:21 UTC")):
        [breach] = alerts_of(sim, table, "2026-03-18", "slo_breach")
        [resolution] = alerts_of(sim, table, "2026-03-18", "slo_breach", resolved=True)
        why = dict(breach.details)["why"]
        cause, text = upstream[table]
        assert why.startswith(f"upstream table features is late too — features: {cause}"), why
        assert text in why
        assert resolution.title.startswith(f"SLO recovered: {table} materialized at {recovered}")  # launched 30 s after its checks


def test_a_warn_on_the_input_holds_nobody_and_its_alert_says_the_consumers_still_read_it(simulated):
    sim, *_ = simulated
    [warned] = alerts_of(sim, "features", "2026-03-05", "data_quality")
    assert warned.title == "features 2026-03-05: row_count_change (warn) failed; consumers still read it (overseas_digest, table_10, weekly_report)"
    assert [s for s in sim.sent if s.alert.asset in LAUNCHED and s.at.strftime("%m-%d") == "03-05"] == []  # launched at 06:30 as usual


def test_an_error_on_the_input_holds_its_consumers_and_their_alerts_name_the_input_the_check_and_the_link(simulated):
    sim, *_ = simulated
    [held] = alerts_of(sim, "features", "2026-03-09", "data_quality")
    assert held.title == "features 2026-03-09: duplicate_keys (error) failed; holds overseas_digest, table_10, weekly_report until it passes"
    for table in ("table_10", slo_catalog.WEEKLY_REPORT):
        [breach] = alerts_of(sim, table, "2026-03-09", "slo_breach")
        details = dict(breach.details)
        assert details["cause"] == "upstream_blocked"
        assert details["why"] == (
            "input features 2026-03-09 failed its check duplicate_keys with ERROR at 2026-03-09 05:30 JST: sensor"
            f" cross_product_launch_demo launches {table} once that partition passes its checks (re-run it, or fix its data and re-run it)"
        )
        assert details["input checks"] == "http://dagster.test/assets/features?view=checks"
        assert details["run"] == f"http://dagster.test/runs/{breach.run_id}"  # the run that wrote the failed check


def test_at_risk_lead_times_come_from_the_predictor_and_the_text_never_contradicts_itself(simulated):
    sim, *_ = simulated
    predicted = [s for s in at_risk_warnings(sim) if s.alert.source is None]
    lead = {(s.alert.asset, s.alert.incident[:10]): (datetime.fromisoformat(s.alert.incident) - s.at) for s in predicted}
    # 20-minute tables due at 08:00 are at risk once now + 20 min passes 07:50: the 07:30:30 tick of the window
    assert lead[("table_08", "2026-03-10")] == lead[("table_09", "2026-03-10")] == timedelta(minutes=29, seconds=30)  # never started, stuck
    assert lead[("table_10", "2026-03-09")] == timedelta(minutes=29, seconds=30)  # held by its input's ERROR
    assert lead[(slo_catalog.MODEL.name, "2026-03-16")] == timedelta(minutes=39, seconds=30)  # 30 min model due 07:00
    assert lead[(LONG_TABLE, "2026-03-24")] == timedelta(minutes=99, seconds=30)  # 90 min table, its run not started
    assert lead[("features", "2026-03-20")] == timedelta(minutes=29, seconds=30)  # its run failed at 05:30: blocked at once
    assert lead[("table_10", "2026-03-20")] == timedelta(hours=2, minutes=29, seconds=30)  # blocked by that run
    texts = {(s.alert.asset, s.alert.incident[:10]): s.alert for s in predicted}
    stuck = dict(texts[("table_09", "2026-03-10")].details)
    assert stuck["critical path"] == (
        "its run started at 06:30 JST is overdue (running 1h00m, expected duration 20 min): if it is stuck, a new run started now lands at 07:50 JST"
    )
    assert texts[("table_08", "2026-03-10")].title.startswith("SLO at risk: table_08 is predicted to land at 07:50 JST, within 10 min of its")
    assert texts[("table_20", "2026-03-20")].title.startswith("SLO at risk: table_20 is predicted to land at 08:05 JST, after its")
    blocked = texts[("table_10", "2026-03-20")]
    assert dict(blocked.details)["cause"] == "upstream_failed"
    assert blocked.title.startswith("SLO at risk: table_10 cannot land before its 2026-03-20 08:00 JST deadline — blocked: waits for features")
    table_10 = dict(texts[("table_10", "2026-03-12")].details)
    assert table_10["predicted finish"] == "2026-03-12 08:15 JST"  # features (10 min) then table_10 (20 min), from 07:45
    assert table_10["critical path"].startswith("waits for features (predicted at 07:55 JST, 1h55m after its own deadline)")
    assert "critical path features → table_10" in table_10["critical path"]


def test_a_fix_after_the_deadline_and_a_backfill_tell_the_readers_and_rebuild(simulated):
    sim, *_ = simulated
    [late_fix] = alerts_of(sim, "table_10", "2026-03-13", "slo_stale_read")
    assert late_fix.title == (
        "Stale read: the readers of table_10 2026-03-13 at its 2026-03-13 08:00 JST deadline took data built at 2026-03-13 06:50 JST"
        " from features as it was before its re-materialization at 2026-03-13 10:05 JST (after the deadline); the launch on data rebuilds it"
    )
    [rebuilt] = alerts_of(sim, "table_10", "2026-03-13", "slo_stale_read", resolved=True)
    assert rebuilt.title == "Stale read over: table_10 2026-03-13 rebuilt at 2026-03-13 10:26 JST from the new features"
    grouped = [s.alert for s in sim.sent if s.alert.kind.value == "slo_stale_read" and s.alert.incident.startswith("group:")]
    # raised in asset-key order; resolved as the rebuilt partitions land (the demo product's runs were launched first)
    assert [(a.asset, a.resolved) for a in grouped] == [(slo_catalog.OVERSEAS, False), ("table_10", False), ("table_10", True), (slo_catalog.OVERSEAS, True)]
    assert dict(grouped[0].details)["partitions"] == ", ".join(BACKFILLED)


def test_report_numbers_match_the_scripted_history(simulated):
    _, _, report, _ = simulated
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
    assert (rows["features"].late, rows["features"].missed) == (2, 1)  # 03-18, 03-20; 03-12
    # launched on data: late after the held (03-09) and the late (03-18) input, missed when it never came (03-12)
    assert (rows["table_10"].late, rows["table_10"].missed, rows["table_10"].worst_lateness_minutes) == (2, 1, 141)
    assert (rows[slo_catalog.OVERSEAS].late, rows[slo_catalog.OVERSEAS].missed) == (1, 1)
    assert (rows[slo_catalog.WEEKLY_REPORT].deadlines, rows[slo_catalog.WEEKLY_REPORT].late) == (5, 1)  # Mondays only
    assert rows["table_01"].on_time_ratio == pytest.approx(29 / 30)
    # 99 % of 30 deadlines allows 0.3 breaches: one breach leaves -0.7.
    assert rows["table_01"].budget_left == pytest.approx(0.3 - 1)


def at_risk_warnings(sim: Simulation) -> list:
    return [s for s in sim.sent if s.alert.kind.value == "slo_at_risk" and not s.alert.resolved]


def test_drift_warns_days_before_the_first_miss_and_resolves_when_it_missed(simulated):
    sim, *_ = simulated
    [drift] = [s for s in at_risk_warnings(sim) if s.alert.source == "drift"]
    assert drift.alert.asset == DRIFTING_TABLE
    first_miss = next(s for s in sim.sent if s.alert.asset == DRIFTING_TABLE and s.alert.kind.value == "slo_breach")
    assert first_miss.at - drift.at >= timedelta(days=5)
    assert "min later each day" in drift.alert.title and "misses its 08:00 JST deadline in about" in drift.alert.title
    assert dict(drift.alert.details)["cause"] == "completion_drift"


def test_the_happy_path_raises_nothing(simulated):
    sim, *_ = simulated
    never_scripted = {"table_05", "table_17", "table_18"}
    assert [s for s in sim.sent if s.alert.asset in never_scripted] == []
    quiet_days = {"03-01", "03-02", "03-07", "03-17", "03-19", "03-21", "03-28", "03-29", "03-30"}
    assert [s for s in sim.sent if s.at.strftime("%m-%d") in quiet_days and not s.alert.resolved] == []
