"""Replay the monitoring's verdicts over generated days without a run per day: the same ``judge``
the check op calls, with the summaries it would record kept in memory.

Labels land ``label_delay`` days after their partition, so performance for day D is known on
day D + delay.
"""

import json

from ml_platform.monitoring.assess import COVERAGE_CHECK, DRIFT_CHECK, judge
from ml_platform.monitoring.performance import compute_metric, evidence_z, performance_problem, standard_error
from ml_platform.monitoring.reference import PartitionSummary, Pin
from ml_platform.monitoring.settings import Monitoring
from tests.monitoring.scenarios import Scenario

SETTINGS = Monitoring(entity_column="user_id", fallback_column="is_fallback", metric="auc", metric_floor=None)


def replay(
    scenario: Scenario, days: int = 30, settings: Monitoring = SETTINGS, label_delay: int = 3, with_expected: bool = False, pins: dict[int, int] | None = None
) -> dict[str, list[str | None]]:
    """Per check, the verdict of each day (None: passed, "WARN", "ERROR"); ``performance`` holds
    the day's delayed-label verdict. ``pins``: {day it is pinned: first partition day} (a person
    pinning); the first day is pinned at the start."""
    history, frames, metrics, errors = {}, {}, [], []
    verdicts = {DRIFT_CHECK: [], COVERAGE_CHECK: [], "performance": []}
    pin = Pin(scenario.day(0).isoformat(), 0.0, "first monitored partition")
    for day in range(days):
        if pins and day in pins:
            pin = Pin(scenario.day(pins[day]).isoformat(), float(day), "pinned by a person", explicit=True)
        frame = scenario.predictions(day)
        partition = scenario.day(day).isoformat()
        expected = scenario.expected_users(day) if with_expected else None
        result = judge(frame, expected, history, pin, partition, settings, "score")
        history[partition] = _recorded(result.summary, day + 0.5)
        verdicts[DRIFT_CHECK].append(result.drift.severity)
        verdicts[COVERAGE_CHECK].append(result.coverage.severity if result.coverage else None)
        frames[day] = frame
        labelled = day - label_delay  # labels of this partition land today
        problem = None
        if labelled >= 0:
            past = frames[labelled].merge(scenario.labels(labelled), on="user_id")
            metrics.append(compute_metric(settings.metric, past["label"], past["score"], settings.k))
            errors.append(standard_error(settings.metric, metrics[-1], len(past), int(past["label"].sum())))
            problem = performance_problem(
                metrics, settings.metric_floor, settings.decay_window, settings.max_decay, errors, evidence_z(settings.significance)
            )
        verdicts["performance"].append("WARN" if problem else None)
    return verdicts


def _recorded(summary: PartitionSummary, at: float) -> PartitionSummary:
    """The summary as the check records it and a later check reads it back."""
    return PartitionSummary.from_json(summary.partition, json.loads(json.dumps(summary.to_json())), at)


def first(verdicts: list[str | None], severity: str | None = None) -> int | None:
    """The first day with a failing verdict (or with ``severity``)."""
    return next((day for day, v in enumerate(verdicts) if v is not None and (severity is None or v == severity)), None)
