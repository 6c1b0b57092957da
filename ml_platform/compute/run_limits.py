"""Run-level limits derived from the compute profiles of the steps a run executes.

The daemon's run monitoring cancels a run that outlives its ``dagster/max_runtime`` tag
(deploy/dagster.yaml turns monitoring on and sets the ceiling for runs without the tag). Steps
that depend on each other run one after another, each attempt within its own profile's limit
(enforced on its backend: Kubernetes ``activeDeadlineSeconds``, SageMaker ``StoppingCondition``),
so a step's budget is its limit times its attempts (1 + its retry policy's ``max_retries``) plus
the retry delays between them, and the run's budget is the longest chain of dependent steps, summed
along that critical path: a step retried as declared is never canceled by its run's limit. Not
counted: relaunches after an OOM kill or a preemption (``infrastructure_retry``, at most 3 each),
and time spent waiting for a pool slot.

Every launch path gets the tag:

- **Any run executed by the routing executor** (UI "Materialize", UI backfills, re-executions,
  schedules, sensors, automation): ``tag_run_with_its_limit`` adds it when the run worker starts
  executing, from the execution plan's steps, unless the launcher already set one. Dagster's
  webserver and daemon never import this code (the Helm chart runs Dagster's own images), but
  the run worker runs ours, and run monitoring reads the run's tags on every poll.
- **Launchers that build run requests** (product schedules; the automation sensor's
  ``run_tags``; the CLI): ``run_limit_tags_for(assets, keys)`` gives the tag up front, so the
  limit is visible on the queued run too.
"""

from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Hashable, TypeVar

import dagster as dg

from ml_platform.compute.profiles import PROFILE_TAG, PROFILES

if TYPE_CHECKING:
    from ml_platform.declaration import MLAsset

MAX_RUNTIME_TAG = "dagster/max_runtime"  # read by dagster's run monitoring (seconds)
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
K = TypeVar("K", bound=Hashable)


def step_budget_seconds(profile: str, retry_policy: dg.RetryPolicy | None = None) -> float:
    """A step's every attempt at its profile's limit, plus the longest delays between them."""
    limit = PROFILES[profile].max_runtime.total_seconds()
    if retry_policy is None or not retry_policy.max_retries:
        return limit
    steady = dg.RetryPolicy(max_retries=retry_policy.max_retries, delay=retry_policy.delay, backoff=retry_policy.backoff)
    jitter = (retry_policy.delay or 0) if retry_policy.jitter == dg.Jitter.PLUS_MINUS else 0  # at most +delay
    delays = sum(steady.calculate_delay(attempt) + jitter for attempt in range(1, retry_policy.max_retries + 1))
    return limit * (1 + retry_policy.max_retries) + delays


def max_runtime_seconds(
    profiles: Mapping[K, str], deps: Mapping[K, Iterable[K]], retry_policies: Mapping[K, dg.RetryPolicy | None] | None = None
) -> int | None:
    """Sum of step budgets (``step_budget_seconds``) along the longest dependency chain among
    ``profiles``' keys (asset keys or step keys).

    ``deps`` may name keys outside the run; only dependencies executed in the same run count.
    """
    policies = retry_policies or {}

    @cache
    def finish(key) -> float:
        upstream = [finish(dep) for dep in deps.get(key, ()) if dep in profiles and dep != key]
        return max(upstream, default=0.0) + step_budget_seconds(profiles[key], policies.get(key))

    return int(max(map(finish, profiles))) if profiles else None


def run_limit_tags(
    profiles: Mapping[dg.AssetKey, str], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]],
    retry_policies: Mapping[dg.AssetKey, dg.RetryPolicy | None] | None = None,
) -> dict[str, str]:
    """Tags for a run request materializing these assets (asset key -> compute profile name, and
    its retry policy)."""
    seconds = max_runtime_seconds(profiles, deps, retry_policies)
    return {MAX_RUNTIME_TAG: str(seconds)} if seconds else {}


def declared_run_limit_tags(declared: Mapping[dg.AssetKey, "MLAsset"], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> dict[str, str]:
    """``run_limit_tags`` of declared assets (key -> declaration), from their profiles and retries."""
    return run_limit_tags({k: d.compute for k, d in declared.items()}, deps, {k: d.retry_policy() for k, d in declared.items()})


def run_limit_tags_for(assets: Iterable[dg.AssetsDefinition], selection: Iterable[dg.AssetKey]) -> dict[str, str]:
    """Tags for a run of ``selection`` among ``assets`` (e.g. ``Definitions.assets``): the one call a
    launcher needs. Assets without a compute profile (op tag ``ml_platform/compute``) count for nothing."""
    wanted = set(selection)
    profiles, deps, policies = {}, {}, {}
    for assets_def in assets:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue
        for spec in assets_def.specs:
            deps[spec.key] = [dep.asset_key for dep in spec.deps]
            profile = (assets_def.op.tags if assets_def.is_executable else {}).get(PROFILE_TAG)
            if spec.key in wanted and profile in PROFILES:
                profiles[spec.key], policies[spec.key] = profile, assets_def.op.retry_policy
    return run_limit_tags(profiles, deps, policies)


def plan_max_runtime_seconds(execution_plan, job_def: dg.JobDefinition | None = None) -> int | None:
    """The critical path over the steps an execution plan will execute (step tags carry the
    profile; ``job_def`` the retry policies)."""
    deps = execution_plan.get_executable_step_deps()
    steps = {key: execution_plan.get_step_by_key(key) for key in deps}
    profiles = {key: step.tags.get(PROFILE_TAG) for key, step in steps.items()}
    policies = {key: job_def.get_retry_policy_for_handle(step.node_handle) for key, step in steps.items()} if job_def else {}
    return max_runtime_seconds({k: p for k, p in profiles.items() if p in PROFILES}, deps, policies)


def partitions_in_run(run_tags: Mapping[str, str]) -> int:
    """How many daily partitions one step of this run computes: a ranged backfill run (``ranged_runs``)
    calls each table's function once per day of its range inside one step, so every per-step limit
    scales by the range's length. Only daily tables run ranged; any other run counts one."""
    start, end = run_tags.get(RANGE_START_TAG), run_tags.get(RANGE_END_TAG)
    try:
        return max(1, (date.fromisoformat(end) - date.fromisoformat(start)).days + 1)
    except (TypeError, ValueError):
        return 1


def tag_run_with_its_limit(instance: dg.DagsterInstance, run: dg.DagsterRun, execution_plan, job_def: dg.JobDefinition | None = None) -> None:
    """Adds ``dagster/max_runtime`` to a run that has none, from the steps it is about to execute."""
    if MAX_RUNTIME_TAG in run.tags:
        return
    seconds = plan_max_runtime_seconds(execution_plan, job_def)
    seconds = seconds and seconds * partitions_in_run(run.tags)
    if seconds:
        instance.add_run_tags(run.run_id, {MAX_RUNTIME_TAG: str(seconds)})
