"""Replays through real runs: one run per day on one instance, the alert sensors ticked as the daemon
ticks them, alerts sent to the Slack test server. Verdicts are kept per (table, check) as a line,
one character per day: ``.`` passed, ``W`` WARN, ``E`` ERROR, `` `` not run."""

from datetime import date, timedelta

import dagster as dg

from ml_platform.alerting import AlertSink
from ml_platform.assembly import assemble_definitions
from ml_platform.checks.alerts import SENSOR_NAME as QUALITY_SENSOR
from ml_platform.declaration import PARTITIONS_START
from ml_platform.monitoring.performance_alerts import SENSOR_NAME as LABELS_SENSOR
from tests.fixtures.product_runs import check_evaluations
from tests.fixtures.slack_api import TEST_TOKEN

UI_URL = "http://dagster.test:3000"
MONITORING = ("prediction_drift", "prediction_coverage")


def partition(day: int) -> str:
    return (date.fromisoformat(PARTITIONS_START) + timedelta(days=day)).isoformat()


def tick(defs: dg.Definitions, name: str, instance, cursor: str | None) -> str | None:
    """One tick as the daemon runs it: asset events the sensor returns are recorded in the instance."""
    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def(name)
    resources = {k: v for k, v in repository.get_top_level_resources().items() if k in sensor.required_resource_keys}
    with dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository, sensor_name=name, resources=resources) as context:
        data = sensor.evaluate_tick(context)
    for event in data.asset_events or []:
        instance.report_runless_asset_event(event)
    return data.cursor


class Replay:
    """One code location and one (in-memory) instance for a scenario's whole replay."""

    def __init__(self, assets: list, slack_api, instance: dg.DagsterInstance | None = None):
        sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url=UI_URL)
        self.defs = assemble_definitions(assets, "local", resources={"alert_sink": sink})
        self.instance = instance or dg.DagsterInstance.ephemeral()
        self.slack = slack_api
        self.cursors: dict[str, str | None] = {QUALITY_SENSOR: None, LABELS_SENSOR: None}
        self.lines: dict[tuple[str, str], str] = {}
        self.evaluations: dict[tuple[str, str, int], dg.AssetCheckEvaluation] = {}

    def run(self, day: int | None, *assets: str, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            partition_key=partition(day) if day is not None else None, instance=self.instance, run_config=run_config or {},
            asset_selection=[dg.AssetKey(a) for a in assets], raise_on_error=False,
        )
        assert result.success, [e.event_specific_data for e in result.all_events if e.is_step_failure]
        return result

    def day(self, day: int, *tables: str) -> None:
        """Materialize ``day``'s partition of ``tables`` and note their monitoring verdicts."""
        evaluations = check_evaluations(self.run(day, *tables))
        for (table, check), evaluation in evaluations.items():
            if check not in MONITORING:
                continue
            line = self.lines.get((table, check), "").ljust(day)
            verdict = "." if evaluation.passed else evaluation.severity.value[0]
            self.lines[(table, check)] = line + verdict
            self.evaluations[(table, check, day)] = evaluation

    def line(self, table: str, check: str = "prediction_drift") -> str:
        return self.lines.get((table, check), "")

    def tick(self, *sensors: str) -> list[str]:
        """Tick the alert sensors (default: both); the messages they sent."""
        seen = len(self.slack.messages)
        for name in sensors or tuple(self.cursors):
            self.cursors[name] = tick(self.defs, name, self.instance, self.cursors[name])
        return [m["text"] for m in self.slack.messages[seen:]]
