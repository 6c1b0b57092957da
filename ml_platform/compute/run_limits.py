"""Run-level limits derived from the compute profiles of the assets a run materializes.

The daemon's run monitoring cancels a run that outlives its ``dagster/max_runtime`` tag
(deploy/dagster.yaml turns monitoring on and sets the ceiling for runs without the tag). Steps
that depend on each other run one after another, each within its own profile's limit (enforced
on its backend: Kubernetes ``activeDeadlineSeconds``, SageMaker ``StoppingCondition``), so the
run's budget is the longest chain of dependent steps, summed along that critical path.
"""

from collections.abc import Iterable, Mapping
from functools import cache

import dagster as dg

from ml_platform.compute.profiles import PROFILES

MAX_RUNTIME_TAG = "dagster/max_runtime"  # read by dagster's run monitoring (seconds)


def max_runtime_seconds(profiles: Mapping[dg.AssetKey, str], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> int | None:
    """Sum of profile limits along the longest dependency chain among ``profiles``' assets.

    ``deps`` may name assets outside the run; only dependencies materialized in the same run count.
    """

    @cache
    def finish(key: dg.AssetKey) -> float:
        upstream = [finish(dep) for dep in deps.get(key, ()) if dep in profiles and dep != key]
        return max(upstream, default=0.0) + PROFILES[profiles[key]].max_runtime.total_seconds()

    return int(max(map(finish, profiles))) if profiles else None


def run_limit_tags(profiles: Mapping[dg.AssetKey, str], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> dict[str, str]:
    """Tags for a run request materializing these assets (asset key -> compute profile name)."""
    seconds = max_runtime_seconds(profiles, deps)
    return {MAX_RUNTIME_TAG: str(seconds)} if seconds else {}
