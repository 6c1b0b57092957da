"""Data-quality incidents are per (table, partition), through the real sensor, AlertSink and the
local Slack server: checks produced in real runs, the sensor ticked with its stored cursor."""

import warnings

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned  # test-only
from dagster._core.events import DagsterEvent, DagsterEventType  # test-only: a run worker's planned-check event

from ml_platform.alerting import AlertLedger, AlertSink
from ml_platform.checks.alerts import data_quality_alerts
from ml_platform.declaration import SLO, Expectations, PredictionTable
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN

TABLE = PredictionTable(
    name="churn_scores",
    product="churn",
    owner="team:churn",
    slo=SLO("0 8 * * *"),
    compute="small",
    alert_channel="#churn-alerts",
    expectations=Expectations(key_columns=("user_id",)),
)
CHECKS = ("row_count_change", "score_range")


class Outcome(dg.ConfigurableResource):
    """Which checks fail on which partition in this run ("check@partition"), and their severity."""

    failing: list[str] = []
    severity: str = "ERROR"


@dg.asset(**TABLE.asset_kwargs())
def churn_scores() -> None:
    return None


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    SPECS = [dg.AssetCheckSpec(name, asset=churn_scores.key, partitions_def=TABLE.partitions_def) for name in CHECKS]


@dg.multi_asset_check(specs=SPECS)
def churn_checks(context: dg.AssetCheckExecutionContext, outcome: Outcome):
    partition = context.partition_key
    for name in CHECKS:
        yield dg.AssetCheckResult(
            asset_key=churn_scores.key,
            check_name=name,
            passed=f"{name}@{partition}" not in outcome.failing,
            severity=dg.AssetCheckSeverity[outcome.severity],
            metadata={"partition": partition},
            description=f"{name} on {partition}",
        )


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def defs(slack_api) -> dg.Definitions:
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://ui")
    return dg.Definitions(assets=[churn_scores], asset_checks=[churn_checks], sensors=[data_quality_alerts], resources={"alert_sink": sink, "outcome": Outcome()})


def run(instance, partition: str, *failing: str, severity: str = "ERROR") -> None:
    dg.materialize(
        [churn_scores, churn_checks],
        instance=instance,
        partition_key=partition,
        resources={"outcome": Outcome(failing=list(failing), severity=severity)},
        raise_on_error=False,
    )


class Ticks:
    def __init__(self, slack_api, instance):
        self.defs, self.instance, self.cursor, self.slack = defs(slack_api), instance, None, slack_api

    def __call__(self) -> list[str]:
        """One tick; the texts Slack received during it."""
        before = len(self.slack.messages)
        result = tick_sensor(self.defs, "data_quality_alerts", self.instance, self.cursor)
        self.cursor = result.cursor
        return self.slack.texts()[before:]

    def ledger(self) -> AlertLedger:
        return AlertLedger.load(self.instance, "data_quality_alerts", self.cursor)


def test_a_backfill_passing_an_old_partition_does_not_resolve_todays_incident(slack_api, instance):
    tick = Ticks(slack_api, instance)
    run(instance, "2026-03-10", "row_count_change@2026-03-10")
    (opened,) = tick()
    assert opened.startswith("ERROR: churn_scores 2026-03-10: row_count_change (error) failed")

    run(instance, "2026-03-01")  # a backfill of an old partition passes
    assert tick() == []
    assert list(tick.ledger().open) == ["data_quality|churn_scores|2026-03-10"]

    run(instance, "2026-03-10")  # today is fixed
    (resolved,) = tick()
    assert resolved.startswith("RESOLVED: churn_scores 2026-03-10: row_count_change pass again")
    assert tick() == []


def test_two_partitions_failing_between_ticks_both_alert(slack_api, instance):
    tick = Ticks(slack_api, instance)
    run(instance, "2026-03-10", "row_count_change@2026-03-10")
    run(instance, "2026-03-11", "score_range@2026-03-11")
    texts = tick()
    assert sorted(t.split(":")[1].strip() for t in texts) == ["churn_scores 2026-03-10", "churn_scores 2026-03-11"]
    assert tick() == []


def test_warn_becoming_error_alerts_again_and_fewer_failing_checks_stay_one_incident(slack_api, instance):
    tick = Ticks(slack_api, instance)
    run(instance, "2026-03-10", "row_count_change@2026-03-10", "score_range@2026-03-10", severity="WARN")
    assert [t.split(":")[0] for t in tick()] == ["WARN"]
    run(instance, "2026-03-10", "row_count_change@2026-03-10")  # one check passes, the other becomes an ERROR
    assert [t.split(":")[0] for t in tick()] == ["ERROR"]
    run(instance, "2026-03-10")
    (resolved,) = tick()
    assert resolved.startswith("RESOLVED: churn_scores 2026-03-10: row_count_change pass again")


def test_a_failing_backfill_sends_one_grouped_message_per_table_and_one_grouped_resolution(slack_api, instance):
    tick = Ticks(slack_api, instance)
    days = [f"2026-03-{d:02d}" for d in range(1, 7)]
    for day in days:
        run(instance, day, f"score_range@{day}")
    (grouped,) = tick()
    assert grouped.startswith("ERROR: churn_scores: checks failed on 6 partitions (2026-03-01 … 2026-03-06)")
    assert all(day in str(slack_api.messages[-1]["blocks"]) for day in days)
    assert len(tick.ledger().open) == 6

    for day in days[:5]:
        run(instance, day)
    (fixed,) = tick()
    assert fixed.startswith("RESOLVED: churn_scores: checks pass again on 5 partitions (2026-03-01 … 2026-03-05)")
    assert list(tick.ledger().open) == ["data_quality|churn_scores|2026-03-06"]


def test_a_check_still_running_neither_opens_nor_resolves(slack_api, instance):
    tick = Ticks(slack_api, instance)
    run(instance, "2026-03-10", "score_range@2026-03-10")
    assert len(tick()) == 1
    # A new run of the partition has planned its checks but not finished them (as the run worker writes it).
    subset = TABLE.partitions_def.subset_with_partition_keys(["2026-03-10"]).to_serializable_subset()
    planned = AssetCheckEvaluationPlanned(asset_key=churn_scores.key, check_name="score_range", partitions_subset=subset)
    event = DagsterEvent(DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value, "__ephemeral_asset_job__", event_specific_data=planned)
    instance.report_dagster_event(event, run_id="in-progress-run")
    assert tick() == []
    assert list(tick.ledger().open) == ["data_quality|churn_scores|2026-03-10"]
