"""Predictions and drift, as pure functions over durations and completion times."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ml_platform.declaration import SLO, Expectations, PredictionTable
from ml_platform.slo.at_risk import Predictor, at_risk, build_history, detect_drift, expected_duration, p90
from ml_platform.slo.deadlines import Materialization

TOKYO = ZoneInfo("Asia/Tokyo")
TABLE = PredictionTable(
    name="t", product="p", owner="team:p", slo=SLO("0 8 * * *", timezone="Asia/Tokyo"), compute="small",
    expectations=Expectations(key_columns=("id",)),
)


def at(day: str, hhmm: str) -> float:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=TOKYO).timestamp()


def test_p90_is_the_nearest_rank():
    assert p90([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]) == 90
    assert p90([5]) == 5 and p90([]) is None


def test_prediction_follows_the_slowest_unfinished_upstream():
    now = at("2026-03-10", "06:30")
    parents = {"recs": ["related", "interactions"], "related": ["texts"], "interactions": [], "texts": []}
    landed = {"interactions": True, "texts": False, "related": False}
    p90s = {"recs": 1200, "related": 2400, "texts": 600, "interactions": 300}
    predictor = Predictor(now, p90s, parents.__getitem__, lambda asset, _: landed[asset])
    prediction = predictor.predict("recs", "2026-03-10")
    assert [s.asset for s in prediction.path] == ["texts", "related", "recs"]
    assert prediction.finish == now + 600 + 2400 + 1200  # 07:40
    deadline = datetime.fromtimestamp(at("2026-03-10", "08:00"), TOKYO)
    assert not at_risk(prediction, deadline)  # 07:40 is before 08:00 minus the margin
    assert at_risk(prediction, deadline - timedelta(minutes=15))


def test_a_running_run_counts_from_its_start_and_a_stuck_one_is_warned_no_later_than_one_never_started():
    now = at("2026-03-10", "07:30")
    predictor = Predictor(now, {"t": 1800}, lambda _: [], lambda *_: True, started={"t": at("2026-03-10", "07:10")})
    assert predictor.predict("t", "2026-03-10").finish == at("2026-03-10", "07:40")
    deadline = datetime.fromtimestamp(at("2026-03-10", "08:00"), TOKYO)
    for minute in range(0, 60):  # 07:00 .. 07:59: the first minute each is at risk
        when = at("2026-03-10", f"07:{minute:02d}")
        stuck = Predictor(when, {"t": 1200}, lambda _: [], lambda *_: True, started={"t": at("2026-03-10", "06:30")})
        never = Predictor(when, {"t": 1200}, lambda _: [], lambda *_: True)
        assert at_risk(stuck.predict("t", None), deadline) >= at_risk(never.predict("t", None), deadline), minute
    [step] = Predictor(now, {"t": 1200}, lambda _: [], lambda *_: True, started={"t": at("2026-03-10", "06:30")}).predict("t", None).path
    assert step.overdue and step.finish == now + 1200  # a new run started now: 07:50, at risk from 07:30


def test_a_failed_upstream_blocks_its_consumers_instead_of_restarting_now():
    now = at("2026-03-10", "06:45")
    parents = {"recs": ["related"], "related": []}
    failed = {"related": ("3f2a9c1e-run", at("2026-03-10", "05:40"))}
    prediction = Predictor(now, {"recs": 1200, "related": 600}, parents.__getitem__, lambda *_: False, failed=failed).predict("recs", "2026-03-10")
    assert prediction.blocked.asset == "related" and [s.asset for s in prediction.path] == ["related", "recs"]
    assert at_risk(prediction, datetime.fromtimestamp(at("2026-03-10", "23:00"), TOKYO))  # blocked whatever the clock says
    own = Predictor(now, {}, lambda _: [], lambda *_: True, failed={"t": ("run", None)}).predict("t", None)
    assert own.blocked.asset == "t"  # its own run failed for good: blocked even with no recorded duration


def test_one_slow_first_run_does_not_make_the_next_days_late():
    assert expected_duration([3600.0]) == 3600.0  # all there is
    assert expected_duration([3600.0, 600.0]) == 600.0  # the slow first run already counts for nothing
    assert expected_duration([3600.0, *[600.0] * 8]) == 600.0
    assert expected_duration([600.0, 660.0, 3600.0, 620.0]) == 620.0
    ten = [600.0 + 10 * i for i in range(10)]
    assert expected_duration([3600.0, *ten]) == p90(ten)  # ten or more: the p90 of the last ten


def test_no_recorded_duration_no_prediction():
    assert Predictor(0.0, {}, lambda _: [], lambda *_: True).predict("t", None) is None


def test_drift_warns_days_ahead_and_ignores_flat_noise_and_one_late_day():
    rising = [(day, -60 + 4 * day) for day in range(14)]  # 07:00, 07:04, ... 07:52 for an 08:00 deadline
    drift = detect_drift(rising)
    assert drift is not None and drift.slope_minutes == 4 and drift.crosses_in_days == 2
    assert detect_drift([(day, -60 + (day % 3)) for day in range(14)]) is None  # noise
    one_late = [(day, 120 if day == 12 else -60) for day in range(14)]
    assert detect_drift(one_late) is None
    assert detect_drift([(day, -60 + 4 * day) for day in range(6)]) is None  # too few days
    assert detect_drift([(day, -120 + 2 * day) for day in range(14)]) is None  # crosses in more than a week
    assert detect_drift([(day, -50 + 5 * day) for day in range(14)]) is None  # already late: the breach path has it


def test_history_takes_the_last_durations_and_each_deadlines_first_landing():
    now = datetime(2026, 3, 20, 12, tzinfo=TOKYO)
    found = []
    for i in range(14):
        day = (now.date() - timedelta(days=14 - i)).isoformat()
        found.append(Materialization("t", at(day, "07:00") + 240 * i, day, duration=600.0 + 60 * i))
        found.append(Materialization("t", at(day, "09:00"), day, duration=9999.0))  # a later re-run counts for p90 only
    history = build_history(found, {"t": TABLE}, now)
    assert history.p90["t"] == 9999.0
    assert history.drifting["t"].slope_minutes == 4.0
    durations_only = build_history(found[::2], {"t": TABLE}, now)
    assert durations_only.p90["t"] == p90([600.0 + 60 * i for i in range(4, 14)])
    few = build_history(found[::2][:3], {"t": TABLE}, now)  # a new table: three durations
    assert few.p90["t"] == 660.0
