"""Row-count history logic on injected histories (pure functions, no Dagster)."""

from datetime import date, timedelta

import numpy as np

from ml_platform.checks.row_count import (
    CHANGE_CHECK,
    DECLINE_CHECK,
    Count,
    assess_row_counts,
    latest_counts,
)
from ml_platform.checks.verdict import ERROR, PASS, WARN
from ml_platform.declaration import RowCountPolicy

POLICY = RowCountPolicy()


def days(rows: list[float]) -> list[Count]:
    start = date(2026, 3, 1)
    return [Count((start + timedelta(days=i)).isoformat(), int(round(r))) for i, r in enumerate(rows)]


def verdicts_on_last_day(rows: list[float], policy: RowCountPolicy = POLICY) -> dict[str, object]:
    counts = days(rows)
    return {v.check: v for v in assess_row_counts(counts, counts[-1].partition, policy)}


def test_sudden_drop_of_40_percent_errors_with_the_history_in_metadata():
    verdict = verdicts_on_last_day([1000] * 10 + [600])[CHANGE_CHECK]
    assert verdict.outcome == ERROR
    assert verdict.metadata["median"] == 1000 and verdict.metadata["change"] == -0.4
    assert len(verdict.metadata["history"]) == POLICY.history
    assert "dropped" in verdict.summary


def test_moderate_drop_warns_and_spike_warns():
    assert verdicts_on_last_day([1000] * 10 + [850])[CHANGE_CHECK].outcome == WARN
    spike = verdicts_on_last_day([1000] * 10 + [1600])[CHANGE_CHECK]
    assert spike.outcome == WARN and "spiked" in spike.summary


def first_flagged_decline_day(stable_days: int) -> int | None:
    rows = [1000.0] * stable_days + [1000 * 0.97**d for d in range(1, 11)]
    for day in range(1, 11):
        if verdicts_on_last_day(rows[: stable_days + day])[DECLINE_CHECK].outcome == ERROR:
            return day
    return None


def test_three_percent_daily_decline_is_caught_by_day_seven():
    caught = first_flagged_decline_day(stable_days=14)
    assert caught is not None and caught <= 7


def test_three_percent_daily_decline_from_the_first_run_is_caught_by_day_seven():
    caught = first_flagged_decline_day(stable_days=1)
    assert caught is not None and caught <= 7


def test_each_small_step_of_the_decline_stays_below_the_sudden_drop_error():
    rows = [1000.0] * 14 + [1000 * 0.97**d for d in range(1, 8)]
    assert verdicts_on_last_day(rows)[CHANGE_CHECK].outcome != ERROR


def test_stable_counts_with_five_percent_noise_are_never_flagged():
    rng = np.random.default_rng(3)
    rows = list(1000 * (1 + rng.uniform(-0.05, 0.05, size=120)))
    flagged = [
        (day, v.check, v.summary)
        for day in range(1, len(rows) + 1)
        for v in verdicts_on_last_day(rows[:day]).values()
        if v.outcome != PASS
    ]
    assert flagged == []


def test_one_day_level_shift_is_a_sudden_drop_not_a_decline():
    verdicts = verdicts_on_last_day([1000] * 12 + [700] * 3)
    assert verdicts[DECLINE_CHECK].outcome == PASS


def test_first_run_passes_with_insufficient_history():
    for verdict in verdicts_on_last_day([1000]).values():
        assert verdict.outcome == PASS and "insufficient history" in verdict.summary
        assert verdict.metadata["history_size"] <= 1


def test_rematerialized_partition_counts_once_with_its_newest_row_count():
    newest_first = [("2026-03-03", 500), ("2026-03-02", 900), ("2026-03-03", 1000), ("2026-03-01", 1000)]
    assert latest_counts(newest_first) == [Count("2026-03-01", 1000), Count("2026-03-02", 900), Count("2026-03-03", 500)]


def test_partition_is_compared_with_earlier_partitions_only():
    counts = days([1000] * 8 + [400] * 5)  # a later partition being low does not matter for an earlier one
    verdicts = assess_row_counts(counts, counts[7].partition, POLICY)
    assert all(v.outcome == PASS for v in verdicts)


def test_tuned_policy_tolerates_a_bigger_drop():
    lenient = RowCountPolicy(warn_drop=0.45, error_drop=0.5)
    assert verdicts_on_last_day([1000] * 10 + [600], lenient)[CHANGE_CHECK].outcome == PASS


def test_missing_row_count_for_the_partition_warns_naming_the_metadata_key():
    verdicts = assess_row_counts(days([1000] * 5), "2026-04-01", POLICY)
    assert all(v.outcome == WARN and "dagster/partition_row_count" in v.summary for v in verdicts)


SEASONAL = RowCountPolicy(weekly_seasonality=True)


def weekend_dip(weeks: int, seed: int = 5) -> list[float]:
    """Weekdays ~1000 rows, Saturdays and Sundays ~600, with ±3% noise (2026-03-01 is a Sunday)."""
    rng = np.random.default_rng(seed)
    start = date(2026, 3, 1)
    return [
        (600 if (start + timedelta(days=i)).weekday() >= 5 else 1000) * (1 + rng.uniform(-0.03, 0.03))
        for i in range(7 * weeks)
    ]


def flagged_days(rows: list[float], policy: RowCountPolicy) -> list[tuple[int, str]]:
    return [
        (day, v.check)
        for day in range(1, len(rows) + 1)
        for v in verdicts_on_last_day(rows[:day], policy).values()
        if v.outcome != PASS
    ]


def test_weekend_dip_is_flagged_without_seasonality():
    assert any(check == CHANGE_CHECK for _, check in flagged_days(weekend_dip(4), POLICY))


def test_weekend_dip_is_never_flagged_with_weekly_seasonality():
    assert flagged_days(weekend_dip(8), SEASONAL) == []


def test_seasonal_table_still_catches_a_weekday_drop_against_the_same_weekday():
    rows = weekend_dip(9)
    rows[-3] = 600  # a Thursday at weekend level
    verdict = verdicts_on_last_day(rows[:-2], SEASONAL)[CHANGE_CHECK]
    assert verdict.outcome == ERROR and "same-weekday" in verdict.summary
    assert len(verdict.metadata["history"]) == SEASONAL.history


def test_seasonal_table_still_catches_a_gradual_decline_by_day_seven():
    rows = weekend_dip(6)
    decline = [r * 0.97**d for d, r in enumerate(weekend_dip(2, seed=9)[:10], start=1)]
    caught = next(
        (day for day in range(1, 11) if verdicts_on_last_day(rows + decline[:day], SEASONAL)[DECLINE_CHECK].outcome == ERROR),
        None,
    )
    assert caught is not None and caught <= 7
