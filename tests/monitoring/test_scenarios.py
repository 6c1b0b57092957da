"""The monitoring's verdicts over generated days per scenario, by the pure replay (no run per day):
the same ``judge`` the check op calls, with the summaries round-tripped as the check records them.
The runs tests (test_*_runs.py) go through Dagster; these cover longer spans at the default settings."""

from dataclasses import replace

from tests.monitoring.replay import SETTINGS, first, replay
from tests.monitoring.scenarios import Scenario

ONSET = 8  # after the 7-partition pinned window (days 0-6) is complete


def line(verdicts: list[str | None]) -> str:
    return "".join("." if v is None else v[0] for v in verdicts)


def test_stable_month_raises_nothing_at_default_settings():
    verdicts = replay(Scenario(), 30, with_expected=True)
    assert {check: line(v) for check, v in verdicts.items()} == {check: "." * 30 for check in verdicts}


def test_a_break_fails_every_broken_day_and_the_repair_passes():
    verdicts = replay(Scenario(rows=600, break_day=ONSET, repair_day=ONSET + 7), 20)
    assert line(verdicts["prediction_drift"]) == "." * ONSET + "E" * 7 + "." * 5


def test_a_creep_of_0_04_logit_a_day_warns_once_it_adds_up_and_then_errors_for_good():
    drift = line(replay(Scenario(rows=600, creep_day=ONSET), 40)["prediction_drift"])
    warn, error = drift.index("W"), drift.index("E")
    # PSI of a logit shift d on these scores is about 0.6 d^2: 0.1 near d = 0.4 (10 days), 0.25 near d = 0.65 (16 days)
    assert ONSET + 6 <= warn <= ONSET + 12 and ONSET + 12 <= error <= ONSET + 18
    assert set(drift[:warn]) == {"."} and set(drift[error:]) == {"E"}


def test_coverage_falling_a_point_a_day_warns_near_a_5_point_loss_and_errors_near_15():
    coverage = replay(Scenario(rows=600, coverage_day=ONSET), 40, with_expected=True)["prediction_coverage"]
    warn, error = first(coverage, "WARN"), first(coverage, "ERROR")
    assert ONSET + 3 <= warn <= ONSET + 7 and ONSET + 12 <= error <= ONSET + 16  # 1 % missed normally, + 1 point a day
    assert set(line(coverage)[error:]) == {"E"}


def test_a_fallback_rising_to_40_percent_fails_coverage_on_its_first_day():
    verdicts = replay(Scenario(rows=600, fallback_day=ONSET), 14)
    assert first(verdicts["prediction_coverage"]) == ONSET and set(line(verdicts["prediction_coverage"])[ONSET:]) <= {"W", "E"}


def test_decaying_auc_with_labels_3_days_late_alerts_after_the_labels_land():
    verdicts = replay(Scenario(decay_day=ONSET), 25, label_delay=3)
    # labels of the onset day land 3 days later; the fall must pass max_decay and the noise of ~1,200 labels
    assert ONSET + 3 <= first(verdicts["performance"]) <= ONSET + 3 + 10
    assert first(verdicts["prediction_drift"]) is None  # labels decay, scores do not: only performance sees it


def test_a_new_segment_category_fails_from_its_first_day():
    verdicts = replay(Scenario(rows=600, segment_day=ONSET), 12, settings=replace(SETTINGS, segment_columns=("country",)))
    assert line(verdicts["prediction_drift"]) == "." * ONSET + "EEEE"


def test_a_person_pinning_a_lasting_change_makes_the_next_partitions_pass():
    verdicts = replay(Scenario(rows=600, break_day=ONSET), 14, pins={ONSET + 2: ONSET})
    assert line(verdicts["prediction_drift"]) == "." * ONSET + "EE" + "." * 4
