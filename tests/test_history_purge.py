"""The instance history purge deletes what the platform no longer reads, and nothing it reads."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from ml_platform import instance_reads
from ml_platform.assembly import assemble_definitions
from ml_platform.checks.gate import held_by_checks
from ml_platform.checks.quality_checks import evaluate_history
from ml_platform.compute.rightsizing import recommend_all
from ml_platform.declaration import declarations
from ml_platform.history_purge import Retention, purge_history
from ml_platform.slo.report import declared_attainment
from tests.test_ranged_runs import ROWS, events, run_day, scores

NOW = datetime(2026, 3, 21, 12, tzinfo=timezone.utc)
# 14 daily partitions, each run five days after the one before: the oldest run is 65 days old by NOW.
DAYS = [(datetime(2026, 1, 1) + timedelta(days=i)).date().isoformat() for i in range(14)]
RUN_AT = {day: NOW - timedelta(days=5 * (len(DAYS) - 1 - i), hours=1) for i, day in enumerate(DAYS)}
RETENTION = Retention(run_event_days=14, asset_event_days=45, latest_per_asset=30)


def reads(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict:
    """What the platform's history readers conclude, within their windows."""
    graph = defs.resolve_asset_graph()
    declared = declarations(graph)
    newest = DAYS[-3:]
    verdicts = {
        (key.to_user_string(), day): [(v.check, v.outcome, v.summary) for v in evaluate_history(
            instance, key, d.partitions_def, day, d.expectations.row_count)]
        for key, d in declared.items() for day in newest
    }
    attainment = declared_attainment(instance, declared, days=30, now=NOW)
    return {
        "history verdicts": verdicts,
        "gate": {(k.to_user_string(), day): held_by_checks(instance, k, d, day) for k, d in declared.items() for day in newest},
        "slo attainment": [(row.asset, [(o.deadline, o.status, o.lateness_minutes) for o in row.outcomes]) for row in attainment.rows],
        "attempts (peaks, durations, costs)": sorted(
            (a.asset, a.partition or "", a.outcome, a.peak_mib or 0.0, a.duration_s or 0.0, a.cost_usd or 0.0)
            for a in instance_reads.attempts_after(instance, (NOW - timedelta(days=45)).timestamp())
        ),
        "step durations": instance_reads.step_durations(instance, (NOW - timedelta(days=45)).timestamp()),
        "rightsizing": [(r.asset, r.samples, r.recommended) for r in recommend_all(defs, instance)],
        "latest materialization": {k.to_user_string(): r.asset_entry.last_materialization.timestamp for k, r in zip(
            declared, instance.get_asset_records(list(declared)), strict=True)},
    }


def event_types(instance: dg.DagsterInstance, run_ids: list[str]) -> set[str]:
    return {e.dagster_event_type.value if e.dagster_event_type else "LOG" for run_id in run_ids for e in instance.all_logs(run_id)}


@pytest.fixture
def history(local_env, monkeypatch):
    defs = assemble_definitions([events, scores], "local")
    job = defs.resolve_implicit_global_asset_job_def()
    for day in DAYS:
        monkeypatch.setitem(ROWS, day, 100 - (30 if day == DAYS[-2] else 0))  # one drop: an ERROR verdict to keep
    with dg.instance_for_test() as instance:
        run_ids = []
        for day in DAYS:
            with freeze_time(RUN_AT[day]):
                run_ids.append(run_day(job, instance, day).run_id)
        yield defs, instance, run_ids


def test_history_reads_give_the_same_verdicts_after_a_purge(history):
    defs, instance, run_ids = history
    before = reads(defs, instance)
    assert any(failed for failed in before["gate"].values())  # the drop is there to be kept

    report = purge_history(instance, RETENTION, now=NOW)

    assert reads(defs, instance) == before
    old = [run_id for day, run_id in zip(DAYS, run_ids, strict=True) if RUN_AT[day] < NOW - timedelta(days=14)]
    recent = [run_id for day, run_id in zip(DAYS, run_ids, strict=True) if RUN_AT[day] >= NOW - timedelta(days=14)]
    assert report.runs_trimmed == len(old) and report.run_events_deleted > 0
    assert event_types(instance, old) <= {"ASSET_MATERIALIZATION", "ASSET_OBSERVATION", "ASSET_CHECK_EVALUATION"}  # + attempt records
    assert "STEP_SUCCESS" in event_types(instance, recent)  # recent runs keep their logs
    assert report.check_executions_deleted > 0  # evaluations older than 45 days
    assert report.runs_deleted == 0  # every old run still holds one of the newest 30 materializations

    again = purge_history(instance, RETENTION, now=NOW)
    assert (again.runs_trimmed, again.run_events_deleted, again.asset_events_deleted) == (0, 0, 0)
    with pytest.raises(ValueError, match="asset_event_days must cover the longest window the platform reads"):
        purge_history(instance, Retention(asset_event_days=7), now=NOW)
