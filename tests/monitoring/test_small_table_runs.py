"""A small table through real runs: 50 rows a day for 90 stable days, with expected users and a
fallback marker. At this size PSI alone is mostly noise (two stable days of 50 rows have an
expected PSI near 0.2, and on main 46 of 52 such days false-alarmed); the checks judge by the
evidence for the partition's size, so nothing fails and nothing is sent. The alert sensor ticks
every ten days: several partitions' evaluations land between two ticks."""

from tests.monitoring.run_replay import Replay
from tests.monitoring.scenario_catalog import scenario_assets
from tests.monitoring.scenarios import Scenario

DAYS = 90


def test_a_table_of_50_rows_a_day_raises_nothing_in_90_stable_days(warehouse, slack_api):
    replay = Replay(scenario_assets("small", Scenario(rows=50), with_users=True, with_labels=False), slack_api)
    sent = []
    for day in range(DAYS):
        replay.day(day, "small_users", "small_scores")
        if day % 10 == 9 or day == DAYS - 1:
            sent += replay.tick()

    assert replay.line("small_scores") == "." * DAYS
    assert replay.line("small_scores", "prediction_coverage") == "." * DAYS
    assert sent == []
    psi = [replay.evaluations[("small_scores", "prediction_drift", day)].metadata["psi"].value for day in range(1, DAYS)]
    assert sum(p >= 0.1 for p in psi) > DAYS // 2  # PSI bands alone would have failed most days
    last = replay.evaluations[("small_scores", "prediction_drift", DAYS - 1)].metadata
    assert last["rows"].value < 60 and last["pinned_window"].value.endswith("(7 partitions)")
