"""A lasting break, a retrained model and a change a person accepts, through real runs (one run per
day on one instance, the alert sensor ticked after each day, alerts to the Slack test server).

* ``lasting``: a feature breaks on day 3 and stays broken 7 days, repaired on day 10. It fails
  every broken day against the pinned reference (days 0-2: the broken days never join it) and
  passes on the repair day: one alert, one RESOLVED.
* ``retrained``: its model is retrained on day 6 and scores everyone higher: its first partition
  is judged against the previous model's (a WARN that names the retraining, never an ERROR), and
  the retraining re-pins the reference, so the new model's later partitions pass.
* ``repinned``: a lasting change on day 8 that a person accepts: after the
  ``pin_prediction_reference`` job (the UI's way; ``ml-platform pin-reference`` is the shell's)
  the next partition passes and the incident resolves.
"""

from ml_platform.checks.pin_reference_job import JOB_NAME, OP_NAME
from tests.monitoring.run_replay import Replay, partition
from tests.monitoring.scenario_catalog import scenario_assets
from tests.monitoring.scenarios import Scenario

DAYS = 13
TABLES = ("lasting_scores", "retrained_scores", "repinned_scores")


def catalog():
    return [
        *scenario_assets("lasting", Scenario(rows=600, break_day=3, repair_day=10), with_labels=False),
        *scenario_assets("retrained", Scenario(rows=600, seed=8), with_labels=False, with_model=True),
        *scenario_assets("repinned", Scenario(rows=600, seed=9, break_day=8), with_labels=False),
    ]


def test_a_lasting_break_fails_until_repaired_and_a_retrain_or_a_pin_takes_a_new_reference(warehouse, slack_api):
    replay = Replay(catalog(), slack_api)
    messages = {}
    for day in range(DAYS):
        if day in (0, 6):  # the model is trained, then retrained: it scores everyone higher
            replay.run(None, "retrained_model", run_config={"ops": {"retrained_model": {"config": {"logit_shift": 0.8 if day else 0.0}}}})
        if day == 9:  # a person accepts day 8's change as the new normal, from the UI
            pin = replay.defs.get_job_def(JOB_NAME).execute_in_process(
                run_config={"ops": {OP_NAME: {"config": {"table": "repinned_scores", "since": partition(8)}}}}, instance=replay.instance
            )
            assert pin.success
        replay.day(day, *TABLES)
        messages[day] = replay.tick()

    assert replay.line("lasting_scores") == "...EEEEEEE..."
    assert replay.line("retrained_scores") == "......W......"
    assert replay.line("repinned_scores") == "........E...."
    for table in TABLES:
        assert replay.line(table, "prediction_coverage") == "............."
    sent = {day: texts for day, texts in messages.items() if texts}
    assert sent == {
        3: [f"ERROR: lasting_scores {partition(3)}: prediction_drift (error) failed (first failing partition); consumers still read it (lasting_scores)"],
        6: [f"WARN: retrained_scores {partition(6)}: prediction_drift (warn) failed (first failing partition); consumers still read it (retrained_scores)"],
        7: [f"RESOLVED: retrained_scores {partition(7)}: prediction_drift pass again (failing since {partition(6)}) (retrained_scores)"],
        8: [f"ERROR: repinned_scores {partition(8)}: prediction_drift (error) failed (first failing partition); consumers still read it (repinned_scores)"],
        9: [f"RESOLVED: repinned_scores {partition(9)}: prediction_drift pass again (failing since {partition(8)}) (repinned_scores)"],
        10: [f"RESOLVED: lasting_scores {partition(10)}: prediction_drift pass again (failing since {partition(3)}) (lasting_scores)"],
    }

    broken = replay.evaluations[("lasting_scores", "prediction_drift", 9)]
    assert broken.metadata["pinned_window"].value == f"{partition(0)} .. {partition(2)} (3 partitions)"  # the broken days never joined
    assert broken.metadata["failed_by"].value == "pinned" and broken.metadata["psi"].value > 0.25
    assert "data:image/png;base64," in broken.metadata["score_distribution"].value
    repaired = replay.evaluations[("lasting_scores", "prediction_drift", 12)]
    assert repaired.metadata["pinned_window"].value == f"{partition(0)} .. {partition(11)} (5 partitions)"
    assert "score_distribution" not in repaired.metadata  # drawn for failures only
    first_of_new_model = replay.evaluations[("retrained_scores", "prediction_drift", 6)]
    assert first_of_new_model.description.startswith("first partition after retrained_model retrained ")
    assert "vs the previous model's partitions: PSI " in first_of_new_model.description
    retrained = replay.evaluations[("retrained_scores", "prediction_drift", 8)]
    assert retrained.metadata["reference"].value.startswith(f"pinned since {partition(6)} (model retrained_model retrained ")
    assert retrained.metadata["pinned_window"].value == f"{partition(6)} .. {partition(7)} (2 partitions)"
    repinned = replay.evaluations[("repinned_scores", "prediction_drift", 9)]
    assert repinned.metadata["reference"].value.startswith(f"pinned since {partition(8)} (pinned by run ")
