"""Detection delay and false alarms of the prediction monitoring at its default settings.

The pure replay (``tests/monitoring/replay.py``: the check's ``judge`` over generated days, the
summaries round-tripped as the check records them) of:

* false alarms: ``--days`` stable days per table at 50, 100, 200 and 1,000 rows a day, for
  ``--seeds`` tables each, with expected users and a fallback marker; an alert is a day on which the
  table's incident opens (drift or coverage fails after a day where both passed);
* detection: per scenario and table size, the days from onset to the first WARN and the first ERROR,
  and for the lasting break the verdicts of its 7 broken days and of the repair day.

    python -m benchmarks.monitoring_detection [--days 365] [--seeds 5]

Prints one JSON object.
"""

import argparse
import json
import time
from dataclasses import replace

from tests.monitoring.replay import SETTINGS, first, replay
from tests.monitoring.scenarios import Scenario

ONSET = 8  # after the 7-partition pinned window (days 0-6)


def alerts(verdicts: dict[str, list]) -> list[int]:
    failing = [d is not None or c is not None for d, c in zip(verdicts["prediction_drift"], verdicts["prediction_coverage"], strict=True)]
    return [day for day, fails in enumerate(failing) if fails and (day == 0 or not failing[day - 1])]


def delay(verdicts: list, severity: str) -> int | None:
    day = first(verdicts, severity)
    return None if day is None else day - ONSET


def detection(rows: int) -> dict:
    line = lambda verdicts: "".join("." if v is None else v[0] for v in verdicts)  # noqa: E731
    found = {}
    broken = replay(Scenario(rows=rows, break_day=ONSET, repair_day=ONSET + 7), ONSET + 10)["prediction_drift"]
    found["lasting break (7 days, then repaired)"] = {"verdicts from onset": line(broken[ONSET:]), "first_warn_or_error": delay(broken, None)}
    for name, scenario, check, days, extra in (
        ("score logit creeping +0.04/day", Scenario(rows=rows, creep_day=ONSET), "prediction_drift", 45, {}),
        ("coverage falling 1 point/day", Scenario(rows=rows, coverage_day=ONSET), "prediction_coverage", 45, {"with_expected": True}),
        ("fallback ramping to 40 % in 5 days", Scenario(rows=rows, fallback_day=ONSET), "prediction_coverage", ONSET + 8, {}),
        ("new country taking 20 % of rows", Scenario(rows=rows, segment_day=ONSET), "prediction_drift", ONSET + 4,
         {"settings": replace(SETTINGS, segment_columns=("country",))}),
    ):
        verdicts = replay(scenario, days, **extra)[check]
        found[name] = {"check": check, "first_warn_or_error": delay(verdicts, None), "first_error": delay(verdicts, "ERROR")}
    decay = replay(Scenario(rows=rows, decay_day=ONSET), ONSET + 17, label_delay=3)["performance"]
    found["labels 3 days late, AUC decaying"] = {"check": "delayed-label auc", "first_alert": delay(decay, None)}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    false_alarms = {}
    for rows in (50, 100, 200, 1000):
        per_table = [alerts(replay(Scenario(rows=rows, seed=seed), args.days, with_expected=True)) for seed in range(1, args.seeds + 1)]
        false_alarms[rows] = {
            "tables": args.seeds,
            "days": args.days,
            "alerts_per_table": [len(a) for a in per_table],
            "alerts_per_table_year": round(sum(len(a) for a in per_table) / args.seeds * 365 / args.days, 2),
        }
    print(json.dumps({
        "false_alarms_by_rows_per_day": false_alarms,
        "detection_days_from_onset": {rows: detection(rows) for rows in (50, 200, 1200)},
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
