"""A run's max runtime is the sum of its steps' budgets along the critical path, not their maximum;
a step's budget is every attempt its retry policy allows, at its profile's limit, plus the delays."""

from datetime import datetime, timezone

import dagster as dg

from ml_platform.compute.run_limits import (
    MAX_RUNTIME_TAG,
    max_runtime_seconds,
    run_limit_tags,
    run_limit_tags_for,
    step_budget_seconds,
)
from ml_platform.definitions import build_definitions

A, B, C, D = (dg.AssetKey(k) for k in "abcd")
HOUR = 3600
# The declared default retries: 2, after 60 s then 180 s (Dagster's exponential backoff: (2^n - 1) x 60 s).
DEFAULT_RETRIES = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)
RETRIED = 60 + 180


def test_a_step_may_use_every_attempt_its_retry_policy_allows():
    assert step_budget_seconds("small") == HOUR
    assert step_budget_seconds("small", DEFAULT_RETRIES) == 3 * HOUR + RETRIED
    assert step_budget_seconds("small", dg.RetryPolicy(max_retries=1, delay=60, jitter=dg.Jitter.PLUS_MINUS)) == 2 * HOUR + 120
    assert max_runtime_seconds({A: "small", B: "large"}, {B: [A]}, {A: DEFAULT_RETRIES}) == 3 * HOUR + RETRIED + 3 * HOUR


def test_two_small_steps_in_sequence_get_two_hours_not_one():
    assert max_runtime_seconds({A: "small", B: "small"}, {B: [A]}) == 2 * HOUR


def test_parallel_branches_count_only_the_longest_chain():
    # a (1 h) -> b (3 h) -> d (1 h) and a -> c (8 h) -> d: the critical path is a, c, d.
    profiles = {A: "small", B: "large", C: "training", D: "small"}
    deps = {B: [A], C: [A], D: [B, C]}
    assert max_runtime_seconds(profiles, deps) == (1 + 8 + 1) * HOUR


def test_dependencies_outside_the_run_do_not_count():
    assert run_limit_tags({B: "large"}, {B: [A]}) == {MAX_RUNTIME_TAG: str(3 * HOUR)}
    assert run_limit_tags({}, {}) == {}


def test_product_schedule_tags_its_run_with_the_critical_path():
    defs = build_definitions("local")
    schedule = defs.get_schedule_def("related_content_schedule")
    when = datetime(2026, 11, 24, 19, tzinfo=timezone.utc)  # 04:00 in Tokyo, the schedule's tick
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
    (request,) = schedule.evaluate_tick(context).run_requests
    # article_texts (small, 1 h) then related_articles (large, 3 h), one after the other, each with 2 retries.
    assert request.tags[MAX_RUNTIME_TAG] == str(3 * 1 * HOUR + RETRIED + 3 * 3 * HOUR + RETRIED)


def test_launchers_get_the_limit_of_a_selection_from_the_definitions():
    defs = build_definitions("local")
    selection = [dg.AssetKey("article_texts"), dg.AssetKey("related_articles")]
    assert run_limit_tags_for(defs.assets, selection) == {MAX_RUNTIME_TAG: str(3 * 1 * HOUR + RETRIED + 3 * 3 * HOUR + RETRIED)}
    # sagemaker_training (4 h), declared with 1 retry after 60 s.
    assert run_limit_tags_for(defs.assets, [dg.AssetKey("propensity_model")]) == {MAX_RUNTIME_TAG: str(2 * 4 * HOUR + 60)}
