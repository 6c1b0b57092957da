"""The monitoring's pure functions over 30 generated days per scenario (no run per day)."""

import pytest

from ml_platform.monitoring.replay import replay
from tests.monitoring.scenarios import Scenario

ONSET = 15


@pytest.fixture(scope="module")
def stable():
    return replay(Scenario())


def test_stable_month_raises_nothing_at_default_thresholds(stable):
    assert stable == {"prediction_drift": [], "prediction_coverage": [], "performance": []}


def test_feature_break_is_detected_by_drift_on_the_day_it_happens():
    alerts = replay(Scenario(break_day=ONSET))
    assert alerts["prediction_drift"] and alerts["prediction_drift"][0] == ONSET
    assert not alerts["prediction_coverage"]


def test_fallback_rising_to_40_percent_is_detected_by_coverage():
    alerts = replay(Scenario(fallback_day=ONSET))
    assert alerts["prediction_coverage"] and ONSET <= alerts["prediction_coverage"][0] <= ONSET + 2


def test_decaying_auc_with_labels_3_days_late_alerts_after_the_labels_land():
    alerts = replay(Scenario(decay_day=ONSET), label_delay=3)
    assert alerts["performance"], alerts
    first = alerts["performance"][0]
    assert ONSET + 3 <= first <= ONSET + 3 + 7
    assert not alerts["prediction_drift"]  # labels decay, scores do not: only performance sees it
