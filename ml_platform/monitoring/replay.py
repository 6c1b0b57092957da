"""Replay the monitoring over generated days: the day each check first alerts, per scenario.

Labels land ``label_delay`` days after their partition, so performance for day D is known on
day D + delay; the alert day counts from there.
"""

from ml_platform.monitoring.assess import assess_coverage, assess_drift, coverage_of
from ml_platform.monitoring.performance import compute_metric, performance_problem
from ml_platform.monitoring.scenarios import Scenario
from ml_platform.monitoring.settings import Monitoring

SETTINGS = Monitoring(entity_column="user_id", fallback_column="is_fallback", metric="auc", metric_floor=None)


def replay(scenario: Scenario, days: int = 30, settings: Monitoring = SETTINGS, label_delay: int = 3) -> dict[str, list[int]]:
    """Days (0-based, the day an alert would be sent) on which each check is not healthy."""
    frames, coverages, metrics = [], [], []
    alerts = {"prediction_drift": [], "prediction_coverage": [], "performance": []}
    for day in range(days):
        frame = scenario.predictions(day)
        reference = frames[-settings.reference_partitions :]
        if assess_drift(frame, reference, "score", settings).severity:
            alerts["prediction_drift"].append(day)
        coverage = coverage_of(frame, scenario.expected_users(day), "score", settings)
        if assess_coverage(coverage, coverages[-settings.reference_partitions :], settings).severity:
            alerts["prediction_coverage"].append(day)
        frames.append(frame)
        coverages.append(coverage)
        labelled = day - label_delay  # labels of this partition land today
        if labelled >= 0:
            past = frames[labelled].merge(scenario.labels(labelled), on="user_id")
            metrics.append(compute_metric(settings.metric, past["label"], past["score"], settings.k))
            if performance_problem(metrics, settings.metric_floor, settings.decay_window, settings.max_decay):
                alerts["performance"].append(day)
    return alerts
