"""Run-level limits derived from the compute profiles of the assets a run materializes.

The daemon's run monitoring cancels a run that outlives its ``dagster/max_runtime`` tag
(deploy/dagster.yaml turns monitoring on and sets the ceiling for runs without the tag). A run
may mix profiles, so it gets the longest max runtime among its assets' profiles.
"""

from typing import Iterable

from ml_platform.compute.profiles import PROFILES

MAX_RUNTIME_TAG = "dagster/max_runtime"  # read by dagster's run monitoring (seconds)


def max_runtime_seconds(profile_names: Iterable[str]) -> int | None:
    runtimes = [PROFILES[name].max_runtime.total_seconds() for name in profile_names]
    return int(max(runtimes)) if runtimes else None


def run_limit_tags(profile_names: Iterable[str]) -> dict[str, str]:
    """Tags for a run request materializing assets of these profiles."""
    seconds = max_runtime_seconds(profile_names)
    return {MAX_RUNTIME_TAG: str(seconds)} if seconds else {}
