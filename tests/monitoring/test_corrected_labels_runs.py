"""Corrected labels through real runs: labels land a day after their partition; on day 5 the labels
of day 2 are re-materialized with a bad correction (they no longer follow the scores), on day 6
corrected again. The delayed-label sensor re-evaluates day 2 each time: below the floor it alerts
about day 2 (alerts no longer follow only the newest partition), and the good correction resolves it.
The newest partitions stay healthy, so the table's own incident never opens."""

import dagster as dg

from ml_platform.monitoring.performance_alerts import METRIC_KEY
from tests.monitoring.run_replay import Replay, partition
from tests.monitoring.scenario_catalog import scenario_assets
from tests.monitoring.scenarios import Scenario

DAYS = 8
CORRECTED = 2


def labels_config(scrambled: bool) -> dict:
    return {"ops": {"corrected_labels": {"config": {"scrambled": scrambled}}}}


def test_corrected_labels_re_evaluate_their_partition_and_alert_below_the_floor(warehouse, slack_api):
    replay = Replay(scenario_assets("corrected", Scenario(rows=600), metric_floor=0.6), slack_api)
    messages = {}
    for day in range(DAYS):
        replay.day(day, "corrected_scores")
        if day >= 1:  # yesterday's labels land
            replay.run(day - 1, "corrected_labels", run_config=labels_config(False))
        if day in (5, 6):  # day 2's labels corrected: badly, then right
            replay.run(CORRECTED, "corrected_labels", run_config=labels_config(scrambled=day == 5))
        messages[day] = replay.tick()

    assert replay.line("corrected_scores") == "." * DAYS
    records = replay.instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("corrected_scores"), asset_partitions=[partition(CORRECTED)]), limit=20
    ).records
    first, bad, good = [r.asset_observation.metadata[METRIC_KEY].value for r in reversed(records) if METRIC_KEY in r.asset_observation.metadata]
    assert first == good > 0.7 and bad < 0.6
    assert {day: texts for day, texts in messages.items() if texts} == {
        5: [f"ERROR: corrected_scores {partition(CORRECTED)}: auc {bad:.3f} below floor 0.600 after labels corrected ({first:.3f} before)"
            f" (corrected_scores, {partition(CORRECTED)})"],
        6: [f"RESOLVED: corrected_scores {partition(CORRECTED)}: auc {good:.3f} at or above floor after labels corrected ({bad:.3f} before)"
            f" (corrected_scores, {partition(CORRECTED)})"],
    }
