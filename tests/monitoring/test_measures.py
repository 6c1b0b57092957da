import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact

from ml_platform.monitoring.assess import assess_drift, judge
from ml_platform.monitoring.drift import (
    chi_square_pvalue,
    chi_square_survival,
    measure_drift,
    one_sided_proportion_pvalue,
    severity,
)
from ml_platform.monitoring.performance import (
    compute_metric,
    evidence_z,
    performance_problem,
    precision_at_k,
    standard_error,
)
from ml_platform.monitoring.reference import PartitionSummary, Pin, partitions_to_read, windows
from ml_platform.monitoring.settings import Monitoring
from ml_platform.monitoring.sketch import ATOMS, Sketch


def numeric(values) -> Sketch:
    return Sketch.of(values, categorical=False)


def test_same_distribution_has_small_psi_and_a_shift_names_its_bins():
    rng = np.random.default_rng(1)
    reference = numeric(rng.beta(2, 5, 50_000))
    same = measure_drift(reference, numeric(rng.beta(2, 5, 10_000)))
    assert same.psi < 0.02 and same.pvalue > 0.001
    shifted = measure_drift(reference, numeric(rng.beta(5, 2, 10_000)))
    assert shifted.psi > 0.25 and shifted.pvalue < 1e-12
    assert shifted.top_bins[0]["current"] != shifted.top_bins[0]["reference"]
    assert severity(shifted.psi, 0.1, 0.25) == "ERROR" and severity(0.15, 0.1, 0.25) == "WARN"


def test_a_stored_sketch_keeps_the_reference_shares_within_one_atom():
    rng = np.random.default_rng(2)
    values = rng.beta(2, 5, 100_000)
    stored = Sketch.from_json(json.loads(json.dumps(numeric(values).to_json())))
    assert stored.values.size == ATOMS and stored.rows == 100_000
    current = numeric(rng.beta(2.3, 5, 20_000))
    exact, sketched = measure_drift(numeric(values), current), measure_drift(stored, current)
    assert abs(exact.psi - sketched.psi) < 0.01
    assert len(json.dumps(numeric(values).to_json())) < 1500  # about 1 KiB per statistic and partition


def test_small_samples_are_judged_by_evidence_not_by_psi_alone():
    rng = np.random.default_rng(3)
    reference = numeric(rng.beta(2, 5, 350))
    noisy = [measure_drift(reference, numeric(rng.beta(2, 5, 50))) for _ in range(200)]
    assert np.mean([d.psi >= 0.1 for d in noisy]) > 0.5  # PSI bands alone: most stable days fail
    assert sum(d.pvalue < 0.0005 for d in noisy) <= 1  # the test: about 1 in 2,000
    broken = measure_drift(reference, numeric(rng.beta(6, 3, 50)))
    assert broken.psi > 0.25 and broken.pvalue < 1e-6  # a real break is still plain at 50 rows


def test_the_chi_square_test_agrees_with_scipy():
    from scipy.stats import chi2, chi2_contingency

    table = np.array([[30, 50, 20], [10, 30, 40]])
    assert chi_square_pvalue(table[0], table[1]) == pytest.approx(chi2_contingency(table, correction=False).pvalue)
    for df in (1, 2, 3, 9, 10, 49):
        for x in (0.5, 3.0, 20.0, 90.0, 400.0):
            assert chi_square_survival(df, x) == pytest.approx(chi2.sf(x, df), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    "hits, rows, ref_hits, ref_rows, higher",
    [(6, 50, 6, 343, True), (46, 50, 340, 343, False), (10, 1000, 70, 7000, True), (20500, 1_000_000, 140_000, 7_000_000, True)],
)
def test_the_one_sided_share_test_is_fishers_exact_test(hits, rows, ref_hits, ref_rows, higher):
    expected = fisher_exact([[hits, rows - hits], [ref_hits, ref_rows - ref_hits]], alternative="greater" if higher else "less").pvalue
    assert one_sided_proportion_pvalue(hits, rows, ref_hits, ref_rows, higher) == pytest.approx(expected)


def test_text_categories_are_compared_as_categories_and_unseen_ones_named():
    reference = Sketch.of(pd.Series(["JP"] * 500 + ["US"] * 300 + ["GB"] * 200), categorical=True)
    same = measure_drift(reference, Sketch.of(pd.Series(["JP"] * 52 + ["US"] * 28 + ["GB"] * 20), categorical=True))
    assert same.psi < 0.01 and not same.unseen
    new = measure_drift(reference, Sketch.of(pd.Series(["JP"] * 40 + ["US"] * 30 + ["BR"] * 30), categorical=True))
    assert new.unseen == ["BR"] and new.psi > 0.25 and new.pvalue < 1e-6
    tail = Sketch(1000.0, counts={"JP": 500.0, "US": 300.0}, other=200.0)  # a reference whose tail was not kept
    assert measure_drift(tail, Sketch.of(pd.Series(["JP"] * 50 + ["US"] * 30 + ["BR"] * 20), categorical=True)).unseen == []


def test_many_categories_stored_as_top_lists_judge_a_stable_day_stable_and_name_a_new_one():
    """400 items (an item mix): each stored day keeps its 50 commonest. Merged over 7 days, one
    day's 50th item is another's 51st; the reference counts only what it counts exactly, so a
    stable day against it is stable, and an item new with 5% of the rows is named and warned."""
    rng = np.random.default_rng(7)
    items = [f"a{i:03d}" for i in range(400)]
    weights = 1 / np.arange(1, 401) ** 0.8

    def day(new_share: float = 0.0) -> Sketch:
        values = list(rng.choice(items, size=4000, p=weights / weights.sum()))
        values[: int(4000 * new_share)] = ["brand_new"] * int(4000 * new_share)
        return Sketch.of(pd.Series(values), categorical=True)

    for _ in range(3):
        reference = Sketch.merge([Sketch.from_json(json.loads(json.dumps(day().to_json()))) for _ in range(7)])
        assert reference.other > 0 and len(reference.counts) < 50  # incomplete, and exact where listed
        stable = measure_drift(reference, day())
        assert stable.psi < 0.05 and stable.pvalue > 1e-3 and stable.unseen == []
        new = measure_drift(reference, day(new_share=0.05))
        assert new.unseen == ["brand_new"] and new.psi > Monitoring().psi_warn and new.pvalue < 1e-6


def test_a_statistic_with_fewer_rows_than_the_minimum_is_not_judged():
    rng = np.random.default_rng(4)
    earlier = [PartitionSummary(f"2026-01-0{d}", 40, {"score": numeric(rng.beta(2, 5, 40)).compact()}, None) for d in (1, 2)]
    verdict = assess_drift({"score": numeric(rng.beta(5, 2, 20))}, earlier, earlier, Monitoring(min_rows=30))
    assert verdict.severity is None and "too few rows" in verdict.summary


def test_the_pinned_window_keeps_only_known_good_partitions_and_a_persons_pin_accepts_what_was_recorded():
    def summary(day: int, passed: bool, recorded: float = 0.0) -> PartitionSummary:
        return PartitionSummary(f"2026-01-{day:02d}", 10, {}, None, {"prediction_drift": passed}, recorded)

    history = {s.partition: s for s in [summary(1, True), summary(2, False), summary(3, True), summary(4, False, 4.0), summary(5, False, 5.0)]}
    model = Pin("2026-01-01", 0.0, "model retrained")
    pinned, trailing = windows(model, history, "2026-01-06", 3, "prediction_drift")
    assert [s.partition for s in pinned] == ["2026-01-01", "2026-01-03"]
    assert [s.partition for s in trailing] == ["2026-01-03", "2026-01-04", "2026-01-05"]
    person = Pin("2026-01-04", 4.5, "pinned by a person", explicit=True)
    pinned, _ = windows(person, history, "2026-01-06", 3, "prediction_drift")
    assert [s.partition for s in pinned] == ["2026-01-04"]  # recorded before the pin: accepted; 5 failed after it
    assert windows(person, history, "2026-01-03", 3, "prediction_drift")[0] == []  # older than the pin: day over day only
    assert partitions_to_read(person, "2026-01-06", 2) == ["2026-01-04", "2026-01-05"]


def test_precision_at_k_of_a_top_k_table_is_per_user_over_that_users_own_list():
    users = np.repeat(np.arange(10), 3)
    scores = np.tile([0.9, 0.5, 0.1], 10)
    clicked_first = np.tile([1, 0, 0], 10) * (np.repeat(np.arange(10), 3) < 8)  # 8 of 10 users took their first item
    assert precision_at_k(clicked_first, scores, 1, users) == pytest.approx(0.8)
    assert precision_at_k(clicked_first, scores, 3, users) == pytest.approx(0.8 / 3)


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


def test_judge_records_a_summary_that_reads_back_the_same():
    frame = pd.DataFrame({"user_id": np.arange(100), "score": np.linspace(0, 1, 100), "is_fallback": np.arange(100) < 3})
    settings = Monitoring(entity_column="user_id", fallback_column="is_fallback")
    judged = judge(frame, np.arange(110), {}, None, "2026-01-01", settings, "score")
    back = PartitionSummary.from_json("2026-01-01", json.loads(json.dumps(judged.summary.to_json())), 1.0)
    assert back.coverage == judged.summary.coverage and back.coverage.covered == 100 and back.coverage.fallback == 3
    assert back.passed == {"prediction_drift": True, "prediction_coverage": True}


def test_a_metric_change_alerts_only_beyond_its_sampling_noise():
    rng = np.random.default_rng(5)
    labels = (rng.random(200) < 0.3).astype(float)
    scores = labels * 0.3 + rng.random(200)
    auc = compute_metric("auc", labels, scores)
    error = standard_error("auc", auc, 200, int(labels.sum()))
    assert 0.02 < error < 0.06  # a few hundredths at 200 labelled rows
    z = evidence_z(0.0005)
    assert z == pytest.approx(3.29, abs=0.01)
    noisy = [auc + 0.06, auc, auc, auc, auc, auc, auc]
    assert performance_problem(noisy, None, 7, 0.05) is not None  # without the noise, a 0.06 fall alerts
    assert performance_problem(noisy, None, 7, 0.05, [error] * 7, z) is None  # within the noise of 200 rows
    assert performance_problem([auc + 0.3, *[auc] * 6], None, 7, 0.05, [error] * 7, z) is not None
    assert performance_problem([auc], auc + 0.02, 7, 0.05, [error], z) is None  # a hair below the floor: noise
    assert standard_error("ctr", 0.1, 1000, 100) == pytest.approx(np.sqrt(0.09 / 1000))


def test_a_top_k_table_can_stop_watching_its_item_mix_and_still_scores_precision_per_user():
    frame = pd.DataFrame({"user_id": [1, 1, 2, 2], "article_id": [10, 11, 10, 12], "score": [0.9, 0.8, 0.7, 0.6]})
    watched = Monitoring().for_table(("user_id", "article_id"), top_k=2)
    news = Monitoring(watch_item_mix=False).for_table(("user_id", "article_id"), top_k=2)
    from ml_platform.monitoring.statistics import measure_statistics

    assert "article_id mix" in measure_statistics(frame, "score", watched, 2)
    assert "article_id mix" not in measure_statistics(frame, "score", news, 2)
    assert news.item_column == "article_id"  # still the item of precision@k
