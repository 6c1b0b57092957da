"""Peak memory, wall time and cost of every asset step: one attempt record per step attempt.

Applied once at assembly (``with_step_metrics(assets)`` in ``assembly.py``) by wrapping each
single-output asset's compute function, so no product module changes. The wrapper yields the
asset's output first; Dagster writes it (the IO manager) and records the materialization; then
the wrapper yields the attempt record, an ``AssetObservation`` on the same asset and partition
(``step_usage``): peak memory of the whole step so far — process start, input loading, the
computation, child processes and the output writing — with its source, the wall time since the
step process started, the start-up before it, and the cost. A computation that raises records its
attempt (outcome ``failed``) before the error propagates, so a retried attempt is priced too.

The materialization carries the memory decision of an automatic-memory step (``ml_platform/memory``,
``ml_platform/memory_reason``, ``ml_platform/memory_escalations``), which its launcher passed in the
container's environment (``step_sizing``).
"""

import functools
import inspect
import os
from collections.abc import Iterable

import dagster as dg

from ml_platform.compute._dagster_step_api import DecoratedOpFunction, OpDefinition, with_compute_fn
from ml_platform.compute.backends import backend_of
from ml_platform.compute.pricing import cost_metadata
from ml_platform.compute.profiles import PROFILE_TAG, PROFILES, ComputeProfile
from ml_platform.compute.step_sizing import recorded_decision
from ml_platform.compute.step_usage import (
    CGROUP_ENV,
    DURATION_KEY,
    FAILED,
    MEMORY_SOURCE_KEY,
    OUTCOME_KEY,
    PEAK_MEMORY_KEY,
    REQUESTED_MEMORY_KEY,
    STARTUP_KEY,
    SUCCEEDED,
    StepMeter,
)

RANGE_SHARE_KEY = "ml_platform/range_share"  # attempt record: this partition's share of a ranged step
# Events a generator step yields besides its output: passed through as they are.
OTHER_EVENTS = (dg.AssetMaterialization, dg.AssetObservation, dg.AssetCheckResult, dg.AssetCheckEvaluation, dg.ExpectationResult)

__all__ = ["DURATION_KEY", "MEMORY_SOURCE_KEY", "PEAK_MEMORY_KEY", "STARTUP_KEY", "attempt_record", "with_step_metrics"]


def attempt_record(asset_key: dg.AssetKey, partition: str | None, outcome: str, usage: dict,
                   profile: ComputeProfile | None, decision: dict, estimate: bool, capacity: str | None = None) -> dg.AssetObservation:
    """One attempt's record: its usage, outcome, the memory it ran with and (with a profile) its cost
    over its start-up and wall time."""
    metadata = {**usage, OUTCOME_KEY: outcome}
    if profile is not None:
        metadata[REQUESTED_MEMORY_KEY] = decision.get("ml_platform/memory") or profile.memory
        wall = float(usage[DURATION_KEY]) + float(usage.get(STARTUP_KEY, 0.0))
        peak = usage.get(PEAK_MEMORY_KEY)
        metadata.update(cost_metadata(profile, decision, wall, float(peak) if peak is not None else None, estimate, capacity))
    return dg.AssetObservation(asset_key=asset_key, partition=partition, metadata=metadata)


def _with_metadata(result, metadata: dict):
    if isinstance(result, dg.Output):
        return dg.Output(
            result.value, result.output_name, metadata={**(result.metadata or {}), **metadata},
            data_version=result.data_version, tags=result.tags,
        )
    if isinstance(result, dg.MaterializeResult):
        return dg.MaterializeResult(
            asset_key=result.asset_key, metadata={**(result.metadata or {}), **metadata},
            check_results=result.check_results, data_version=result.data_version, tags=result.tags, value=result.value,
        )
    return dg.Output(result, metadata=metadata)


def _attempt_partitions(context, partitioned: bool) -> list[str | None]:
    """The partitions an attempt produces: one, each of a ranged run's range, or none (a model)."""
    if partitioned and context.has_partition_key:
        return [context.partition_key]
    if partitioned and context.has_partition_key_range:
        return list(context.partition_keys)
    return [None]


def _share(usage: dict, parts: int) -> dict:
    """A ranged run's step computed ``parts`` partitions: each is charged an equal share of its
    time (so the partitions' costs add up to the step's); the peak is the step's."""
    if parts == 1:
        return usage
    shared = {**usage, RANGE_SHARE_KEY: f"1/{parts}"}
    for key in (DURATION_KEY, STARTUP_KEY):
        if usage.get(key) is not None:
            shared[key] = round(float(usage[key]) / parts, 3)
    return shared


def _measured(fn, asset_key: dg.AssetKey, profile: ComputeProfile | None, partitioned: bool):
    @functools.wraps(fn)  # keeps the signature Dagster reads (context, inputs, resources)
    def measured(*args, **kwargs):
        meter = StepMeter().start()
        context = dg.OpExecutionContext.get()
        partitions = _attempt_partitions(context, partitioned)  # a model in a daily run has none
        decision = recorded_decision()
        # Ran on its declared backend's container, or as a local process estimating that backend's price.
        estimate = profile is not None and backend_of(profile).remote and not os.environ.get(CGROUP_ENV)

        def records(outcome: str) -> list[dg.AssetObservation]:
            usage = _share(meter.usage(), len(partitions))
            return [attempt_record(asset_key, partition, outcome, usage, profile, decision, estimate) for partition in partitions]

        try:
            result = fn(*args, **kwargs)
            # A generator step (a ranged run's, ``ranged_runs``) yields its events; Dagster writes each output as it comes.
            for event in result if inspect.isgenerator(result) else [result]:
                yield _with_metadata(event, decision) if not isinstance(event, OTHER_EVENTS) else event
        except Exception:
            for record in records(FAILED):
                context.log_event(record)
            raise
        yield from records(SUCCEEDED)  # Dagster has written the output by now

    # It yields an Output now; the output's type stays on the op's output definition.
    measured.__signature__ = inspect.signature(fn).replace(return_annotation=inspect.Signature.empty)
    measured.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "return"}
    return measured


def _is_measurable(assets_def: dg.AssetsDefinition) -> bool:
    op = assets_def.node_def
    return (
        isinstance(op, OpDefinition)
        and isinstance(op.compute_fn, DecoratedOpFunction)
        and len(op.output_defs) == 1
        and not inspect.iscoroutinefunction(op.compute_fn.decorated_fn)
    )


def with_step_metrics(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The same assets, each recording an attempt record per step attempt.

    Multi-output and async assets are returned unchanged. A generator step (a ranged run's,
    ``ranged_runs``) is measured as a whole; each partition of its range gets an equal share.
    """
    return [_measure(a) if _is_measurable(a) else a for a in assets]


def _measure(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    op: OpDefinition = assets_def.node_def  # type: ignore[assignment]
    profile = PROFILES.get(op.tags.get(PROFILE_TAG, ""))
    measured = _measured(op.compute_fn.decorated_fn, assets_def.key, profile, assets_def.partitions_def is not None)
    return dg.AssetsDefinition.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "node_def": with_compute_fn(op, DecoratedOpFunction(measured))}
    )
