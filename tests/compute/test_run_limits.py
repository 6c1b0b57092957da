"""A run's max runtime is the sum of its steps' limits along the critical path, not their maximum."""

from datetime import datetime, timezone

import dagster as dg

from ml_platform.compute.run_limits import MAX_RUNTIME_TAG, max_runtime_seconds, run_limit_tags, run_limit_tags_for
from ml_platform.definitions import build_definitions

A, B, C, D = (dg.AssetKey(k) for k in "abcd")
HOUR = 3600


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
    # article_texts (small, 1 h) then related_articles (large, 3 h), one after the other.
    assert request.tags[MAX_RUNTIME_TAG] == str(4 * HOUR)


def test_launchers_get_the_limit_of_a_selection_from_the_definitions():
    defs = build_definitions("local")
    selection = [dg.AssetKey("article_texts"), dg.AssetKey("related_articles")]
    assert run_limit_tags_for(defs.assets, selection) == {MAX_RUNTIME_TAG: str(4 * HOUR)}
    assert run_limit_tags_for(defs.assets, [dg.AssetKey("propensity_model")]) == {MAX_RUNTIME_TAG: str(4 * HOUR)}  # sagemaker_training
