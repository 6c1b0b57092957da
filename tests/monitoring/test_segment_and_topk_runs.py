"""Categorical and top-k monitoring through real runs:

* ``segment``: a text segment column (``country``) is watched as categories. Stable for four days,
  then the mix changes and a country never seen before (BR) takes a fifth of the rows: ERROR every
  day from then on, naming BR.
* ``scramble``: a top-k recommendation table built from a click log. From day 4 the click log is
  scrambled (each click paired with a random row's item): the item mix and the score at rank k
  leave the pinned reference, and the check keeps failing while the log stays broken.
"""

from tests.monitoring.run_replay import Replay, partition
from tests.monitoring.scenario_catalog import scenario_assets, topk_assets
from tests.monitoring.scenarios import Scenario

DAYS = 8
ONSET = 4


def test_a_text_segment_and_a_top_k_scramble_fail_from_the_day_they_break_until_the_end(warehouse, slack_api):
    replay = Replay(
        [
            *scenario_assets("segment", Scenario(rows=600, segment_day=ONSET), with_labels=False, segment_columns=("country",)),
            *topk_assets("scramble", scramble_day=ONSET),
        ],
        slack_api,
    )
    messages = {}
    for day in range(DAYS):
        replay.day(day, "segment_scores", "scramble_clicks", "scramble_recommendations")
        messages[day] = replay.tick()

    assert replay.line("segment_scores") == "....EEEE"
    assert replay.line("scramble_recommendations") == "....EEEE"
    assert ("scramble_recommendations", "prediction_coverage") not in replay.lines  # it declares nothing to cover
    assert {day: sorted(texts) for day, texts in messages.items() if texts} == {
        ONSET: [
            f"ERROR: scramble_recommendations {partition(ONSET)}: prediction_drift (error) failed (first failing partition); consumers still read it (scramble_recommendations)",
            f"ERROR: segment_scores {partition(ONSET)}: prediction_drift (error) failed (first failing partition); consumers still read it (segment_scores)",
        ]
    }

    segment = replay.evaluations[("segment_scores", "prediction_drift", DAYS - 1)].metadata
    assert segment["worst_statistic"].value == "country" and segment["unseen_categories"].value == ["BR"]
    assert set(segment["psi_by_statistic"].value) == {"score", "country"}
    assert replay.evaluations[("segment_scores", "prediction_drift", 2)].metadata["psi_by_statistic"].value["country"]["pinned"] < 0.1
    topk = replay.evaluations[("scramble_recommendations", "prediction_drift", DAYS - 1)].metadata
    assert set(topk["psi_by_statistic"].value) == {"score", "score at rank 5", "item_id mix"}
    assert topk["worst_statistic"].value in ("item_id mix", "score at rank 5")
    assert topk["psi_by_statistic"].value["item_id mix"]["pinned"] >= 0.25
