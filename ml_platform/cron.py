"""Cron arithmetic for SLO deadlines.

Dagster exposes no public cron iterator. We use its internal one on purpose: the
freshness daemon evaluates ``FreshnessPolicy.cron`` with exactly these functions, so
our deadlines, schedule times and partition dates agree with what the UI shows.
"""

from datetime import datetime

from ml_platform._dagster_internal import get_latest_completed_cron_tick, get_next_cron_tick, is_valid_cron_string

__all__ = ["is_valid_cron", "last_tick", "next_tick"]


def is_valid_cron(cron: str) -> bool:
    return is_valid_cron_string(cron)


def next_tick(cron: str, after: datetime, timezone: str) -> datetime:
    """The first tick at or after ``after``, as an aware datetime in ``timezone``."""
    return get_next_cron_tick(cron, after, timezone)


def last_tick(cron: str, at_or_before: datetime, timezone: str) -> datetime:
    """The latest tick at or before ``at_or_before``."""
    return get_latest_completed_cron_tick(cron, at_or_before, timezone)
