"""A backfill over a partition range runs as one run per product; each table's function still
runs once per partition.

Every declared daily table gets ``BackfillPolicy.single_run()`` at assembly, so a backfill
launched from the UI (or any asset backfill) becomes one run per range instead of one run per
day: the run worker starts and loads the code location once, not once per day. Dagster then calls
the asset's step once with the whole range (``context.partition_keys``) and its inputs loaded for
the whole range. The platform keeps the user's function per day, inside that one step:

- each partition's inputs are that partition's rows (split on the upstream's partition column),
  the function sees a context of that one partition (``partition_key``, ``partition_time_window``),
  and its step metrics (peak memory, duration, cost) are measured per call;
- each partition becomes its own materialization, with its own row count, peak and cost
  (partition-scoped metadata);
- a partition whose upstream partition is missing or failed an ERROR check is refused, as the
  warehouse readers refuse it in a single-partition run (``checks.gate``);
- a partition whose function fails fails alone: the other partitions are written (each in its own
  atomic write) and materialized, then the step fails naming the failed partitions
  (``dg.Failure`` metadata ``failed partitions``), so the backfill lists just those as failed.

Single-partition runs (UI *Materialize*, schedules, sensors, the CLI) take the unchanged path.
A table gets the policy only when the platform can split every input it loads per partition:
inputs from unpartitioned assets (models) pass whole, inputs from declared tables with the same
partitions are split; any other input keeps Dagster's one-run-per-partition backfill.
"""

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from ml_platform.checks.gate import UpstreamNotReady, held_by_checks
from ml_platform.checks.partition_results import is_ranged
from ml_platform.compute._dagster_step_api import DecoratedOpFunction, OpDefinition, with_compute_fn
from ml_platform.declaration import Catalog, MLAsset
from ml_platform.resources.window_reads import split_by_partition

RANGE_POLICY = dg.BackfillPolicy.single_run()
ROW_COUNT = "dagster/partition_row_count"
FAILED_PARTITIONS = "failed partitions"  # dg.Failure metadata: {partition: reason}, read by the run-failure alerts
RANGE_KEY = "ml_platform/partition_range"


@dataclass(frozen=True)
class SplitInput:
    """An input read from a declared table with the same partitions: split per partition."""

    upstream: dg.AssetKey
    partition_column: str
    declaration: MLAsset


class PartitionContext:
    """The step's context as the run of one partition would show it to the asset's function.

    Partition accessors answer for the one partition; metadata the function adds is that
    partition's; everything else (resources, instance, log, run id, ...) is the step's context.
    """

    def __init__(self, context: dg.AssetExecutionContext, partition: str, window: dg.TimeWindow):
        self._context = context
        self.partition_key = partition
        self.partition_time_window = window
        self.metadata: dict[str, Any] = {}

    has_partition_key = True
    has_partition_key_range = True

    @property
    def partition_keys(self) -> list[str]:
        return [self.partition_key]

    @property
    def partition_key_range(self) -> dg.PartitionKeyRange:
        return dg.PartitionKeyRange(self.partition_key, self.partition_key)

    def asset_partition_key_for_output(self, output_name: str = "result") -> str:
        return self.partition_key

    def asset_partition_key_range_for_output(self, output_name: str = "result") -> dg.PartitionKeyRange:
        return self.partition_key_range

    def asset_partitions_time_window_for_output(self, output_name: str = "result") -> dg.TimeWindow:
        return self.partition_time_window

    def add_output_metadata(self, metadata: Mapping[str, Any], output_name: str | None = None, mapping_key: str | None = None) -> None:
        self.metadata.update(metadata)

    def add_asset_metadata(self, metadata: Mapping[str, Any], asset_key=None, partition_key: str | None = None) -> None:
        self.metadata.update(metadata)

    def __getattr__(self, name: str):
        return getattr(self._context, name)


def with_partition_ranges(assets: Iterable[dg.AssetsDefinition], declared: Catalog) -> list[dg.AssetsDefinition]:
    """Every declared daily table (of the catalog ``declared``) whose inputs can be split per
    partition gets the single-run backfill policy and a step that runs its function per partition;
    other assets are unchanged."""
    assets = list(assets)
    return [a if (split := _split_inputs(a, declared)) is None else _ranged(a, split) for a in assets]


def _split_inputs(assets_def: dg.AssetsDefinition, declared: Mapping[dg.AssetKey, MLAsset]) -> dict[str, SplitInput] | None:
    """Input name -> how to split it, or None when the asset cannot run per partition in a ranged run."""
    op = assets_def.node_def
    declaration = declared.get(assets_def.key) if len(assets_def.keys) == 1 else None
    if declaration is None or declaration.partitions_def is None or assets_def.backfill_policy is not None:
        return None
    if not isinstance(op, OpDefinition) or not isinstance(op.compute_fn, DecoratedOpFunction) or len(op.output_defs) != 1:
        return None
    if inspect.isgeneratorfunction(op.compute_fn.decorated_fn) or inspect.iscoroutinefunction(op.compute_fn.decorated_fn):
        return None
    split = {}
    for name, upstream in assets_def.keys_by_input_name.items():
        upstream_declaration = declared.get(upstream)
        if upstream_declaration is not None and upstream_declaration.partitions_def is None:
            continue  # a model: every partition reads the same one
        same = upstream_declaration is not None and upstream_declaration.partitions_def == declaration.partitions_def
        mapping = assets_def.get_partition_mapping(upstream) if same else None
        if not same or mapping not in (None, dg.IdentityPartitionMapping()) and not _is_identity_window(mapping):
            return None
        split[name] = SplitInput(upstream, upstream_declaration.partition_column, upstream_declaration)
    return split


def _is_identity_window(mapping) -> bool:
    return isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.start_offset == 0 and mapping.end_offset == 0


def _ranged(assets_def: dg.AssetsDefinition, split: Mapping[str, SplitInput]) -> dg.AssetsDefinition:
    op: OpDefinition = assets_def.node_def  # type: ignore[assignment]
    step = per_partition(op.compute_fn.decorated_fn, assets_def.key, split)
    return dg.AssetsDefinition.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "node_def": with_compute_fn(op, DecoratedOpFunction(step)), "backfill_policy": RANGE_POLICY}
    )


def per_partition(fn: Callable, key: dg.AssetKey, split: Mapping[str, SplitInput]) -> Callable:
    """``fn`` (the asset's own function) as a step that, in a ranged run, calls it once per partition.
    Step metrics wrap this step (``compute.step_metrics``): one attempt record per partition, each
    with its share of the step's time."""
    signature = inspect.signature(fn)
    parameters = list(signature.parameters.values())
    takes_context = bool(parameters) and parameters[0].name in ("context", "_context", "ctx", "_ctx", "_")

    # A generator, so the materializations of a failed range's good partitions are events of the step
    # before it fails (events logged on the context are dropped when a plain function raises).
    @functools.wraps(fn)
    def step(context: dg.AssetExecutionContext, **kwargs):
        if not is_ranged(context):
            result = fn(context, **kwargs) if takes_context else fn(**kwargs)
            yield result if isinstance(result, (dg.Output, dg.MaterializeResult)) else dg.Output(result)
            return
        yield from _run_range(context, fn, takes_context, key, split, kwargs)

    # Dagster passes the context only to a function that names it first: ask for it even if fn does not.
    if not takes_context:
        parameters = [inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD), *parameters]
    step.__signature__ = signature.replace(parameters=parameters)
    return step


def _run_range(context: dg.AssetExecutionContext, fn: Callable, takes_context: bool, key: dg.AssetKey,
               split: Mapping[str, SplitInput], kwargs: dict) -> Iterator[dg.Output | dg.AssetMaterialization]:
    partitions = list(context.partition_keys)
    partitions_def = context.assets_def.partitions_def
    refused = _refused_partitions(context.instance, split, partitions)
    slices = {name: split_by_partition(kwargs[name], s.partition_column) for name, s in split.items()}
    frames: dict[str, pd.DataFrame] = {}
    metadata: dict[str, dict] = {}
    failures: dict[str, BaseException] = {}
    for partition in partitions:
        missing = [s.upstream.to_user_string() for name, s in split.items() if partition not in slices[name]]
        if partition in refused or missing:
            failures[partition] = refused.get(partition) or UpstreamNotReady(
                f"upstream table '{missing[0]}' has no rows for partition {partition}: it has not been materialized yet (or was emptied)."
            )
            continue
        day = PartitionContext(context, partition, partitions_def.time_window_for_partition_key(partition))
        day_kwargs = {**kwargs, **{name: slices[name][partition].reset_index(drop=True) for name in split}}
        try:
            result = fn(day, **day_kwargs) if takes_context else fn(**day_kwargs)
        except Exception as error:  # noqa: BLE001 - one partition's failure must not lose the others
            context.log.error(f"{key.to_user_string()} partition {partition} failed: {type(error).__name__}: {error}")
            failures[partition] = error
            continue
        frame, own = _value_and_metadata(result, key, partition)
        if frame.empty:  # as the warehouse writers refuse it in a single-partition run
            failures[partition] = ValueError(f"table '{key.to_user_string()}': refusing to write an empty frame for partition {partition} (the previous data is kept)")
            continue
        frames[partition] = frame
        metadata[partition] = {**own, **day.metadata, ROW_COUNT: len(frame)}
    if failures:
        yield from _write_and_fail(context, key, partitions_def, frames, metadata, failures, len(partitions))
    for partition, values in metadata.items():
        context.add_asset_metadata(values, partition_key=partition)
    yield dg.Output(
        pd.concat([frames[p] for p in partitions], ignore_index=True),
        metadata={RANGE_KEY: f"{partitions[0]}...{partitions[-1]} ({len(partitions)} partitions in one run)"},
    )


def _value_and_metadata(result, key: dg.AssetKey, partition: str) -> tuple[pd.DataFrame, dict]:
    own = {}
    if isinstance(result, (dg.Output, dg.MaterializeResult)):
        own, result = dict(result.metadata or {}), result.value
    if not isinstance(result, pd.DataFrame):
        raise dg.Failure(f"table '{key.to_user_string()}' partition {partition}: a ranged run needs a DataFrame per partition, got {type(result).__name__}")
    return result, own


def _refused_partitions(instance: dg.DagsterInstance, split: Mapping[str, SplitInput], partitions: list[str]) -> dict[str, BaseException]:
    """Partitions whose upstream partition failed an ERROR check, as the warehouse readers refuse
    them in a single-partition run (one storage call per upstream table and partition)."""
    refused: dict[str, BaseException] = {}
    for s in {s.upstream: s for s in split.values()}.values():
        for partition in partitions:
            why = held_by_checks(instance, s.upstream, s.declaration, partition)
            if why and partition not in refused:
                refused[partition] = dg.Failure(description=why, allow_retries=False)
    return refused


def _write_and_fail(context: dg.AssetExecutionContext, key: dg.AssetKey, partitions_def, frames: dict, metadata: dict,
                    failures: dict[str, BaseException], total: int) -> Iterator[dg.AssetMaterialization]:
    """Write and materialize the partitions that succeeded, then fail the step naming the others."""
    writer = getattr(context.resources, context.op_def.output_defs[0].io_manager_key, None)
    written = []
    if frames and hasattr(writer, "write_partition"):
        definition_metadata = context.assets_def.metadata_by_key[key]
        for partition in sorted(frames):
            stored = writer.write_partition(key, partition, partitions_def, definition_metadata, frames[partition])
            yield dg.AssetMaterialization(asset_key=key, partition=partition, metadata={**stored, **metadata[partition]})
            written.append(partition)
    reasons = {p: f"{type(e).__name__}: {getattr(e, 'description', None) or e}" for p, e in sorted(failures.items())}
    kept = f"the other {len(written)} were written and materialized" if written else "nothing was written"
    raise dg.Failure(
        description=f"table '{key.to_user_string()}': {len(failures)} of {total} partitions failed "
        f"({'; '.join(f'{p}: {r}' for p, r in reasons.items())}); {kept}.",
        metadata={FAILED_PARTITIONS: dg.MetadataValue.json(reasons), "materialized partitions": len(written)},
        # A retry runs the whole range again; it cannot help a partition refused for its upstream's checks.
        allow_retries=not all(isinstance(e, dg.Failure) and not e.allow_retries for e in failures.values()),
    )
