"""The one shape of an alert sensor: load its ledger, evaluate, deliver within the tick's budget,
save, summarise.

An alert module provides an ``AlertSensor``: the alert kinds it raises (each has a runbook entry
in docs/operations.md) and an ``evaluate`` function that raises and resolves incidents on the
ledger it is handed. Everything else — the ledger's persistence, delivery through the alert sink
(stopped when ``tick_budget_seconds`` is spent, so a tick stays under Dagster's 60 s limit), the
cursor, the tick's one-line summary — is written here, once::

    COST_JUMP_ALERTS = AlertSensor(name="cost_jump_alerts", kinds=(Kind.COST_JUMP,), evaluate=evaluate,
                                   minimum_interval_seconds=600, description="...")
    cost_jump_alerts = alert_sensor(COST_JUMP_ALERTS)

The code location's alert sensors are registered in one place, ``assembly.ALERT_SENSORS``.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import dagster as dg

from ml_platform.alerting.alert import DeliveryReport
from ml_platform.alerting.ledger import AlertLedger
from ml_platform.alerting.sink import AlertSink, tick_summary
from ml_platform.declaration import MLAsset, declarations


@dataclass
class Tick:
    """What an evaluate function gets: the ledger to raise and resolve on, and what it may read."""

    instance: dg.DagsterInstance
    ledger: AlertLedger
    asset_graph: Any  # the code location's asset graph
    sink: AlertSink  # for links (``ui_url``); delivery is not the evaluate function's business
    now: float
    sensor_name: str
    repository: Any = None  # the RepositoryDefinition (schedules, sensors); None outside a sensor
    location: str | None = None  # the code location's name; None when run in process
    cursor: str | None = None  # the cursor as loaded (for migrating an older format)
    resources: Any = None  # the sensor's other required resources

    @cached_property
    def declared(self) -> Mapping[dg.AssetKey, MLAsset]:
        """The declarations of the code location, read when first asked for."""
        return declarations(self.asset_graph)


@dataclass
class Outcome:
    raised: int = 0
    resolved: int = 0
    summary: str = ""  # the sensor's own state, first on the tick line, e.g. "2 open cost-jump incident(s)"
    asset_events: list = field(default_factory=list)  # e.g. observations the tick records
    result: Any = None  # the evaluate function's own result, for callers of ``run_tick``


@dataclass(frozen=True)
class AlertSensor:
    name: str
    kinds: tuple[str, ...]  # the alert kinds it raises; each has a runbook entry
    evaluate: Callable[[Tick], Outcome]
    description: str
    minimum_interval_seconds: int = 60
    stored_state: tuple[str, ...] = ()  # ledger state tables kept in the key-value store, not the cursor
    required_resources: frozenset[str] = frozenset()  # besides alert_sink


def run_tick(
    spec: AlertSensor, instance: dg.DagsterInstance, asset_graph: Any, cursor: str | None, sink: AlertSink, now: float,
    name: str | None = None, repository: Any = None, location: str | None = None, resources: Any = None,
) -> tuple[str, Outcome, DeliveryReport]:
    """One tick, also without a sensor context (benchmarks, reports): (new cursor, outcome, delivery)."""
    name = name or spec.name
    ledger = AlertLedger.load(instance, name, cursor, stored_state=spec.stored_state)
    outcome = spec.evaluate(Tick(instance, ledger, asset_graph, sink, now, name, repository, location, cursor, resources))
    report = ledger.deliver(sink, now)
    return ledger.save(), outcome, report


def tick_line(outcome: Outcome, report: DeliveryReport) -> str:
    """The tick's one line: the sensor's own state, then what was raised, sent and still waits."""
    return "; ".join(part for part in (outcome.summary, tick_summary(report, outcome.raised, outcome.resolved)) if part)


def alert_sensor(
    spec: AlertSensor, name: str | None = None, minimum_interval_seconds: int | None = None,
    clock: Callable[[], float] | None = None,
) -> dg.SensorDefinition:
    """The sensor of ``spec``, running by default; ``name``, interval and ``clock`` for tests
    (default: ``time.time``, looked up at each tick so a frozen clock applies)."""

    @dg.sensor(
        name=name or spec.name,
        minimum_interval_seconds=spec.minimum_interval_seconds if minimum_interval_seconds is None else minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=spec.description,
        required_resource_keys={"alert_sink", *spec.required_resources},
    )
    def _alert_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        repository = context.repository_def
        origin = context.code_location_origin
        cursor, outcome, report = run_tick(
            spec, context.instance, repository.asset_graph, context.cursor, context.resources.alert_sink, clock() if clock else time.time(),
            name=name, repository=repository, location=origin.location_name if origin else None, resources=context.resources,
        )
        line = tick_line(outcome, report)
        return dg.SensorResult(cursor=cursor, asset_events=outcome.asset_events, skip_reason=None if outcome.asset_events else line)

    return _alert_sensor
