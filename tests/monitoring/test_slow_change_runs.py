"""Slow changes through real runs, against the pinned reference (3 partitions here, days 0-2):

* ``creep``: the score logit creeps up 0.04 a day from day 3 (the issue's example: day 39 against
  day 0 has a PSI of 1.42, and day over day nothing ever shows). WARN once the creep has added up to
  PSI 0.1, ERROR at 0.25; one incident, escalated once.
* ``coverage``: from day 3, one more point of the expected users gets no prediction each day
  (100 % down to 70 %). WARN at a 5-point loss, ERROR at 15; one incident, escalated once.

The days are those the pure replay gives for the same scenarios (``test_scenarios.py``): the runs
record and read back the same summaries.
"""

from tests.monitoring.run_replay import Replay, partition
from tests.monitoring.scenario_catalog import scenario_assets
from tests.monitoring.scenarios import Scenario

DAYS = 24
CREEP = Scenario(rows=600, seed=13, creep_day=3)
COVERAGE_LOSS = Scenario(rows=600, seed=12, coverage_day=3)


def test_a_slow_creep_and_a_slow_coverage_loss_fail_against_the_pinned_reference(warehouse, slack_api):
    replay = Replay(
        [
            *scenario_assets("creep", CREEP, with_labels=False, reference_partitions=3),
            *scenario_assets("coverage", COVERAGE_LOSS, with_users=True, with_labels=False, reference_partitions=3),
        ],
        slack_api,
    )
    messages = {}
    for day in range(DAYS):
        replay.day(day, "creep_scores", "coverage_users", "coverage_scores")
        messages[day] = replay.tick()

    assert replay.line("creep_scores") == "............WWWWWWEEEEEE"
    assert replay.line("creep_scores", "prediction_coverage") == "." * DAYS
    assert replay.line("coverage_scores", "prediction_coverage") == "........WWWWWWWWEEEEEEEE"
    assert replay.line("coverage_scores") == "." * DAYS  # the users who still get a prediction score as before
    assert {day: texts for day, texts in messages.items() if texts} == {
        8: [f"WARN: coverage_scores {partition(8)}: prediction_coverage (warn) failed (first failing partition); consumers still read it (coverage_scores)"],
        12: [f"WARN: creep_scores {partition(12)}: prediction_drift (warn) failed (first failing partition); consumers still read it (creep_scores)"],
        16: [f"ERROR: coverage_scores {partition(16)}: prediction_coverage (error) failed (failing since {partition(8)}); consumers still read it (coverage_scores)"],
        18: [f"ERROR: creep_scores {partition(18)}: prediction_drift (error) failed (failing since {partition(12)}); consumers still read it (creep_scores)"],
    }

    creep = replay.evaluations[("creep_scores", "prediction_drift", 12)].metadata
    assert creep["pinned_window"].value == f"{partition(0)} .. {partition(2)} (3 partitions)"
    assert creep["failed_by"].value == "pinned" and 0.1 <= creep["psi"].value < 0.25
    assert creep["psi_by_statistic"].value["score"]["day_over_day"] < 0.1  # day over day it never shows
    coverage = replay.evaluations[("coverage_scores", "prediction_coverage", 8)].metadata
    assert -0.15 < coverage["covered_change_vs_pinned"].value <= -0.05
    assert coverage["covered_change_vs_day_over_day"].value > -0.05
