"""What the monitoring cannot judge is not a pass: through real runs (one run per day, the alert
sensor ticked after each day, alerts to the Slack test server).

* ``gap``: its expected users' partition of day 4 is missing: coverage is not judged and says so
  in a WARN, instead of passing with an empty summary.
* ``thin``: a feature breaks on day 1 (an ERROR incident); day 2's partition has 20 rows, too few
  to judge (and too early for the row-count history): it passes without resolving the incident,
  and day 3, broken again, sends nothing new.
"""

from tests.monitoring.run_replay import Replay, partition
from tests.monitoring.scenario_catalog import scenario_assets
from tests.monitoring.scenarios import Scenario


def test_a_missing_population_warns_and_a_partition_too_small_to_judge_resolves_nothing(warehouse, slack_api):
    replay = Replay(
        [
            *scenario_assets("gap", Scenario(rows=600, seed=11), with_users=True, with_labels=False),
            *scenario_assets("thin", Scenario(rows=600, seed=12, break_day=1, small_days=(2,)), with_labels=False),
        ],
        slack_api,
    )
    messages = {}
    for day in range(7):
        replay.day(day, *(("gap_scores",) if day == 4 else ("gap_users", "gap_scores")), "thin_scores")
        messages[day] = replay.tick()

    assert replay.line("gap_scores", "prediction_coverage") == "....W.."
    gap = replay.evaluations[("gap_scores", "prediction_coverage", 4)]
    assert gap.description.startswith(f"expected entities 'gap_users' have no partition {partition(4)}: covered share not judged")
    after = replay.evaluations[("gap_scores", "prediction_coverage", 6)].metadata  # its window holds the gap day
    assert after["covered_change_vs_day_over_day"].value is not None and "judged" not in after

    assert replay.line("thin_scores") == ".E.EEEE"
    thin = replay.evaluations[("thin_scores", "prediction_drift", 2)]
    assert thin.description.startswith("too few rows to judge") and thin.metadata["judged"].value is False
    sent = {day: texts for day, texts in messages.items() if texts}
    assert sent == {
        1: [f"ERROR: thin_scores {partition(1)}: prediction_drift (error) failed (first failing partition); consumers still read it (thin_scores)"],
        4: [f"WARN: gap_scores {partition(4)}: prediction_coverage (warn) failed (first failing partition); consumers still read it (gap_scores)"],
        5: [f"RESOLVED: gap_scores {partition(5)}: prediction_coverage pass again (failing since {partition(4)}) (gap_scores)"],
    }
