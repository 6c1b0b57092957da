import numpy as np
import pytest

from ml_platform.monitoring.drift import measure_drift, severity
from ml_platform.monitoring.performance import compute_metric, performance_problem


def test_same_distribution_has_small_psi_and_shift_names_its_bins():
    rng = np.random.default_rng(1)
    reference = rng.beta(2, 5, 50_000)
    assert measure_drift(reference, rng.beta(2, 5, 10_000)).psi < 0.02
    shifted = measure_drift(reference, rng.beta(5, 2, 10_000))
    assert shifted.psi > 0.25 and shifted.ks_pvalue < 1e-6
    assert shifted.top_bins[0]["current"] != shifted.top_bins[0]["reference"]
    assert severity(shifted.psi, 0.1, 0.25) == "ERROR" and severity(0.15, 0.1, 0.25) == "WARN"


def test_metrics_and_unknown_metric_named():
    labels, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert compute_metric("auc", labels, scores) == 0.75
    assert compute_metric("precision_at_k", labels, scores, k=1) == 1.0
    assert compute_metric("ctr", labels, scores) == 0.5
    assert compute_metric(lambda y, s: float(s[y == 1].mean()), labels, scores) == pytest.approx(0.575)
    with pytest.raises(ValueError, match="unknown metric 'rmse'"):
        compute_metric("rmse", labels, scores)


def test_performance_alerts_on_floor_and_on_decay_only():
    assert performance_problem([0.8] * 7, floor=0.7, window=7, max_decay=0.05) is None
    assert "below floor" in performance_problem([0.8, 0.6], floor=0.7, window=7, max_decay=0.05)
    assert "fell" in performance_problem([0.8, 0.79, 0.78, 0.77, 0.76, 0.75, 0.74], floor=None, window=7, max_decay=0.05)
