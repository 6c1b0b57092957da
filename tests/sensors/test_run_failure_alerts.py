import importlib
import json
import time

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from ml_platform.alerting import AlertLedger, AlertSink
from ml_platform.declaration import SLO, Expectations, PredictionTable
from ml_platform.health.run_failure_alerts import build_run_failure_alert_sensor
from tests.fixtures.sensor_daemon import daemon_workspace, run_sensor_iteration
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN
from tests.sensors.locations import run_failure_location

PARTITION = "2026-03-01"
SCORES = PredictionTable(
    name="churn_scores",
    product="churn",
    owner="team:churn",
    slo=SLO("0 8 * * *"),
    compute="small",
    retries=0,
    alert_channel="#churn-alerts",
    expectations=Expectations(key_columns=("user_id",)),
)
FEATURES = PredictionTable(
    name="churn_features",
    product="churn",
    owner="ana@example.com",
    slo=SLO("0 8 * * *"),
    compute="small",
    retries=0,
    expectations=Expectations(key_columns=("user_id",)),
)


class Switch(dg.ConfigurableResource):
    fail: bool = True


def load_scores() -> list[float]:
    raise ValueError("score column has 12 NaN values")


@dg.asset(**SCORES.asset_kwargs())
def churn_scores(switch: Switch) -> None:
    if switch.fail:
        load_scores()


@dg.asset(**FEATURES.asset_kwargs())
def churn_features() -> None:
    raise RuntimeError(f"warehouse refused the login for token {TEST_TOKEN}")


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def definitions(slack_api, clock) -> dg.Definitions:
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
    return dg.Definitions(
        assets=[churn_scores, churn_features],
        sensors=[build_run_failure_alert_sensor(clock=clock)],
        resources={"alert_sink": sink, "switch": Switch()},
    )


def tick(defs: dg.Definitions, instance, cursor: str | None):
    result = tick_sensor(defs, "run_failure_alerts", instance, cursor)
    return result.cursor, result.skip_message


def fail_run(instance, asset=churn_scores, fail: bool = True, tags=None, partition=PARTITION) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [churn_scores, churn_features] if asset is None else [asset],
        instance=instance,
        partition_key=partition,
        resources={"switch": Switch(fail=fail)},
        tags=tags,
        raise_on_error=False,
    )


def test_failed_run_alerts_once_with_step_traceback_owner_link_and_table_channel(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    run = fail_run(instance)
    assert not run.success

    cursor, summary = tick(defs, instance, None)
    cursor, _ = tick(defs, instance, cursor)  # the next tick does not repeat it

    assert "raised 1" in summary and "backlog 0" in summary
    (message,) = slack_api.messages
    assert message["channel"] == "#churn-alerts"  # the table's own channel beats #ml-error
    assert message["text"] == f"ERROR: Run failed: churn_scores (step churn_scores) (churn_scores, {PARTITION})"
    body = json.dumps(message["blocks"])
    for fact in ("team:churn", PARTITION, run.run_id, "Failed step", "ValueError: score column has 12 NaN values"):
        assert fact in body
    assert f"http://dagster.example/runs/{run.run_id}" in body
    code = next(b["text"]["text"] for b in message["blocks"] if "text" in b and b["type"] == "section")
    assert "in load_scores" in code  # the user's frame, not Dagster's wrapper
    assert code.rstrip("`\n").endswith("ValueError: score column has 12 NaN values")
    assert "manual launch" in body


def test_backfill_and_schedule_runs_alert_alike_and_name_their_launcher(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    fail_run(instance, tags={"dagster/backfill": "abcdefgh"})
    fail_run(instance, tags={"dagster/schedule_name": "churn_daily"})

    tick(defs, instance, None)

    bodies = [json.dumps(m["blocks"]) for m in slack_api.messages]
    assert len(bodies) == 2
    assert "backfill abcdefgh" in bodies[0] and "schedule churn_daily" in bodies[1]


def test_asset_without_channel_routes_to_the_error_channel_and_token_is_redacted(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    fail_run(instance, asset=churn_features)

    tick(defs, instance, None)

    (message,) = slack_api.messages
    assert message["channel"] == "#ml-error"
    assert "ana@example.com" in json.dumps(message["blocks"])
    assert all(TEST_TOKEN.encode() not in body for body in slack_api.raw_bodies)
    assert "RuntimeError: warehouse refused the login for token [redacted]" in json.dumps(message["blocks"])


def test_next_successful_run_of_the_same_partition_resolves_once(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    fail_run(instance)
    cursor, _ = tick(defs, instance, None)
    fail_run(instance, fail=False)
    cursor, summary = tick(defs, instance, cursor)
    fail_run(instance, fail=False)
    cursor, _ = tick(defs, instance, cursor)

    assert "resolved 1" in summary
    assert [m["text"].split(":")[0] for m in slack_api.messages] == ["ERROR", "RESOLVED"]
    assert slack_api.messages[1]["channel"] == "#churn-alerts"


def test_three_failed_partitions_rerun_by_one_backfill_all_resolve_at_the_next_tick(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    for day in days:
        fail_run(instance, partition=day)
    cursor, summary = tick(defs, instance, None)
    assert "raised 3" in summary
    fail_run(instance, partition="2026-03-04")  # a fourth failure, not re-run: stays open

    # One backfill re-runs the three days between two ticks (its runs carry the backfill's id).
    for day in days:
        assert fail_run(instance, fail=False, partition=day, tags={"dagster/backfill": "rerun0001"}).success
    clock.now += 30
    cursor, summary = tick(defs, instance, cursor)
    clock.now += 30
    cursor, later = tick(defs, instance, cursor)

    assert "raised 1" in summary and "resolved 3" in summary and "resolved 0" in later
    texts = [m["text"] for m in slack_api.messages]
    assert sorted(t for t in texts if t.startswith("RESOLVED")) == [
        f"RESOLVED: Materialized again: churn_scores (churn_scores, {day})" for day in days
    ]
    open_alerts = AlertLedger.load(instance, "run_failure_alerts", cursor).open_alerts()
    assert [a.partition for a in open_alerts] == ["2026-03-04"]


def test_a_failure_processed_behind_a_backlog_still_resolves_on_an_earlier_rerun(slack_api, clock, instance, monkeypatch):
    """Failures are read 25 per tick: one read late may have been re-run before its tick came."""
    monkeypatch.setattr(importlib.import_module("ml_platform.health.run_failure_alerts"), "MAX_RUNS_PER_TICK", 1)
    defs = definitions(slack_api, clock)
    cursor, _ = tick(defs, instance, None)
    for day in ("2026-03-01", "2026-03-03", "2026-03-02"):
        fail_run(instance, partition=day)
    cursor, _ = tick(defs, instance, cursor)  # 03-01
    assert fail_run(instance, fail=False, partition="2026-03-02").success
    cursor, summary = tick(defs, instance, cursor)  # 03-03; the rerun of 03-02 is read, no alert is open for it yet
    assert "raised 1, resolved 0" in summary
    cursor, summary = tick(defs, instance, cursor)  # 03-02: its rerun came before its alert
    assert "raised 1, resolved 1" in summary
    open_alerts = AlertLedger.load(instance, "run_failure_alerts", cursor).open_alerts()
    assert sorted(a.partition for a in open_alerts) == ["2026-03-01", "2026-03-03"]


def test_failures_during_a_slack_outage_are_delivered_once_in_order_after_restart(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    cursor, _ = tick(defs, instance, None)
    slack_api.fail_with(500)
    first = fail_run(instance)
    cursor, summary = tick(defs, instance, cursor)
    assert "backlog 1" in summary and "HTTP 500" in summary

    slack_api.refuse()
    second = fail_run(instance, asset=churn_features)
    clock.now += 31
    cursor, summary = tick(defs, instance, cursor)
    assert "backlog 2" in summary and "Slack unreachable" in summary

    # The daemon restarts: a new context is built from the stored cursor, a new definitions object loads.
    stored = cursor
    defs = definitions(slack_api, clock)
    slack_api.recover()
    clock.now += 3600
    cursor, summary = tick(defs, instance, stored)
    cursor, _ = tick(defs, instance, cursor)

    assert "delivered 2" in summary and "backlog 0" in summary
    assert [m["text"].split(" (")[0] for m in slack_api.messages] == [
        "ERROR: Run failed: churn_scores",
        "ERROR: Run failed: churn_features",
    ]
    ledger = AlertLedger.load(instance, "run_failure_alerts", cursor)
    assert [ledger.open[s].run_id for s in sorted(ledger.open)] == [
        second.run_id,
        first.run_id,
    ]


def test_runs_older_than_the_lookback_never_alert_on_any_tick(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    fail_run(instance)
    clock.now = 10.0**10  # far in the future: the failure is history

    cursor, summary = tick(defs, instance, None)
    assert "raised 0" in summary
    for _ in range(3):  # no later tick replays the history the first one skipped
        clock.now += 30
        cursor, summary = tick(defs, instance, cursor)
        assert "raised 0" in summary

    assert slack_api.messages == []
    fail_run(instance, asset=churn_features)  # a new failure still alerts
    tick(defs, instance, cursor)
    assert [m["text"].split(" (")[0] for m in slack_api.messages] == ["ERROR: Run failed: churn_features"]


def test_run_launched_through_the_workspace_alerts_from_the_daemon_with_its_code_location(slack_api, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_SLACK_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("ML_PLATFORM_SLACK_API_URL", slack_api.url)
    launch_at_once = {
        "run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher", "class": "SyncInMemoryRunLauncher"},
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
    }

    with dg.instance_for_test(overrides=launch_at_once) as instance, daemon_workspace(
        instance, run_failure_location.__file__, "defs", "ranking_location"
    ) as workspace:
        start = time.time()
        for i in range(4):
            with freeze_time(start + 10 * i):
                run_sensor_iteration(workspace)
        (run,) = instance.get_runs()

    assert run.status == dg.DagsterRunStatus.FAILURE
    assert run.remote_job_origin.repository_origin.code_location_origin.location_name == "ranking_location"
    (message,) = slack_api.messages
    assert message["channel"] == "#ranking-oncall"
    assert message["text"] == f"ERROR: Run failed: ranking_scores (step ranking_scores) (ranking_scores, {run_failure_location.PARTITION})"
    body = json.dumps(message["blocks"])
    assert "sensor ranking_trigger" in body and "team:ranking" in body
    assert "KeyError: \\\"feature 'dwell_time' missing from the feature store\\\"" in body


def test_failed_runs_of_assets_outside_this_code_location_do_not_alert(slack_api, clock, instance):
    @dg.asset
    def someone_elses_table() -> None:
        raise ValueError("not ours")

    dg.materialize([someone_elses_table], instance=instance, raise_on_error=False)

    _, summary = tick(definitions(slack_api, clock), instance, None)

    assert "raised 0" in summary and slack_api.messages == []


MODEL = dg.AssetKey("churn_model")


def test_a_failed_model_in_a_dated_run_alerts_without_the_date_and_resolves_when_it_trains_again(slack_api, clock, instance):
    from ml_platform.declaration import MODEL_IO_MANAGER_KEY, Model

    switch = {"fail": True}

    @dg.asset(**Model(name="churn_model", product="churn", owner="team:churn", slo=SLO("0 6 * * 1"), compute="small", retries=0).asset_kwargs())
    def churn_model() -> None:
        if switch["fail"]:
            raise RuntimeError("no labels yet")

    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
    defs = dg.Definitions(assets=[churn_model, churn_scores], sensors=[build_run_failure_alert_sensor(clock=clock)],
                          resources={"alert_sink": sink, "switch": Switch(fail=False), MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager()})
    job = defs.resolve_implicit_global_asset_job_def()
    # a product's daily run (the CLI's): the model with the day's partition of its table
    assert not job.execute_in_process(instance=instance, partition_key=PARTITION, raise_on_error=False).success
    cursor, _ = tick(defs, instance, None)
    switch["fail"] = False
    assert job.execute_in_process(instance=instance, asset_selection=[MODEL]).success
    _, summary = tick(defs, instance, cursor)
    assert "resolved 1" in summary, summary
    assert [m["text"] for m in slack_api.messages] == [
        "ERROR: Run failed: churn_model (step churn_model) (churn_model)", "RESOLVED: Materialized again: churn_model (churn_model)"]


def test_a_crashed_check_step_alerts_naming_its_table(slack_api, clock, instance):
    @dg.asset_check(asset=churn_scores)
    def churn_scores_have_segments() -> dg.AssetCheckResult:
        raise KeyError("segment")

    @dg.asset(partitions_def=churn_scores.partitions_def)
    def churn_a_calendar() -> None:  # another table of the run, first in its list
        return None

    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
    defs = dg.Definitions(assets=[churn_a_calendar, churn_features, churn_scores], asset_checks=[churn_scores_have_segments],
                          sensors=[build_run_failure_alert_sensor(clock=clock)], resources={"alert_sink": sink, "switch": Switch(fail=False)})
    job = defs.resolve_implicit_global_asset_job_def()
    assert not job.execute_in_process(instance=instance, partition_key=PARTITION, asset_selection=[dg.AssetKey("churn_a_calendar"), dg.AssetKey("churn_scores")],
                                      raise_on_error=False).success
    tick(defs, instance, None)
    (message,) = slack_api.messages
    assert message["text"].startswith("ERROR: Run failed: churn_scores (step churn_scores_churn_scores_have_segments)"), message["text"]


def crashed_check_location(slack_api, clock, instance, days=(PARTITION,)):
    """A check step of churn_scores crashes in a run; returns (defs, the failed run, the check's switch)."""
    crash = {"on": True}

    @dg.asset_check(asset=churn_scores)
    def churn_scores_have_segments() -> dg.AssetCheckResult:
        if crash["on"]:
            raise KeyError("segment")
        return dg.AssetCheckResult(passed=True)

    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example")
    defs = dg.Definitions(assets=[churn_scores], asset_checks=[churn_scores_have_segments],
                          sensors=[build_run_failure_alert_sensor(clock=clock)], resources={"alert_sink": sink, "switch": Switch(fail=False)})
    job = defs.resolve_implicit_global_asset_job_def()
    failed = [job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False) for day in days]
    assert not any(run.success for run in failed)
    cursor, summary = tick(defs, instance, None)
    assert f"raised {len(days)}" in summary
    crash["on"] = False  # the check is fixed

    def run_checks(partition: str, tags=None) -> bool:
        """Only the table's checks (a run that materializes nothing), as the UI's "Execute" on them."""
        check = dg.AssetCheckKey(dg.AssetKey("churn_scores"), "churn_scores_have_segments")
        checks_only = job.get_subset(asset_selection=set(), asset_check_selection={check})
        return checks_only.execute_in_process(instance=instance, partition_key=partition, tags=tags).success

    return defs, run_checks, failed[0].run_id, cursor


def test_a_crashed_check_resolves_when_its_run_is_re_executed_successfully(slack_api, clock, instance):
    """The runbook's fix: "Re-execute from failure" runs only the failed check step, which materializes nothing."""
    defs, run_checks, failed_run_id, cursor = crashed_check_location(slack_api, clock, instance)
    reexecution = {"dagster/parent_run_id": failed_run_id, "dagster/root_run_id": failed_run_id}  # as Dagster tags one
    assert run_checks(PARTITION, tags=reexecution)
    clock.now += 60
    cursor, summary = tick(defs, instance, cursor)
    assert "resolved 1" in summary, summary
    assert slack_api.messages[-1]["text"].startswith("RESOLVED") and "Re-executed successfully" in slack_api.messages[-1]["text"]
    assert "resolved 0" in tick(defs, instance, cursor)[1]  # once


def test_a_crashed_check_resolves_when_the_tables_checks_pass_in_a_run_of_their_own(slack_api, clock, instance):
    """The UI's "Execute" on the table's checks: a new run, no re-execution, no materialization."""
    defs, run_checks, _, cursor = crashed_check_location(slack_api, clock, instance)
    assert run_checks("2026-03-02")  # the same checks on another partition resolve nothing
    clock.now += 30
    cursor, summary = tick(defs, instance, cursor)
    assert "resolved 0" in summary, summary
    assert run_checks(PARTITION)
    clock.now += 30
    assert "resolved 1" in tick(defs, instance, cursor)[1]
    assert "ran again and passed" in slack_api.messages[-1]["text"]


def test_crashed_checks_of_two_days_resolve_each_when_their_checks_ran_again_before_one_tick(slack_api, clock, instance):
    """Both days' checks executed between two ticks: the older day's execution is not the check's latest."""
    days = (PARTITION, "2026-03-02")
    defs, run_checks, _, cursor = crashed_check_location(slack_api, clock, instance, days=days)
    assert all(run_checks(day) for day in days)
    clock.now += 30
    assert "resolved 2" in tick(defs, instance, cursor)[1]


def test_every_failed_table_of_a_run_alerts_not_only_the_first(slack_api, clock, instance):
    defs = definitions(slack_api, clock)
    assert not fail_run(instance, asset=None).success  # churn_scores and churn_features both fail
    _, summary = tick(defs, instance, None)
    assert "raised 2" in summary, summary
    titles = sorted(m["text"].split(" (")[0] for m in slack_api.messages)
    assert titles == ["ERROR: Run failed: churn_features", "ERROR: Run failed: churn_scores"]
