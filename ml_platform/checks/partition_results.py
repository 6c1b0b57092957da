"""Check results per partition: the one partition of a single-partition run, or each partition of
a run over a range (a ranged backfill, ``ml_platform.ranged_runs``).

Dagster records an ``AssetCheckResult`` for the run's partition; a run over a range has none, so
the result would be recorded as unpartitioned, once for the whole range. In a ranged run the
platform's check ops evaluate every partition on its own (the history checks read that partition's
materialization and the partitions before it, as in a single-partition run) and yield one
``AssetCheckEvaluation`` per check and partition, pointing at that partition's materialization,
then each check's output once.

Those evaluations are recorded non-blocking: Dagster blocks per step, so one failing partition
would stop the consumers of every partition in the range. The platform blocks per partition
instead: a consumer in a ranged run refuses exactly the partitions whose upstream partition failed
an ERROR check (``ranged_runs``), as the warehouse readers do across runs (``checks.gate``).
"""

from collections.abc import Iterable, Iterator

import dagster as dg

from ml_platform._dagster_internal import AssetCheckEvaluationTargetMaterializationData


def step_partitions(context) -> list[str | None]:
    """The partitions a step covers: one (a single-partition run), several (a ranged run), or [None]."""
    if context.has_partition_key:
        return [context.partition_key]
    if context.has_partition_key_range:
        return list(context.partition_keys)
    return [None]


def is_ranged(context) -> bool:
    """A run over a partition range (even of one partition), not a single-partition run."""
    return not context.has_partition_key and context.has_partition_key_range


def partition_results(
    context: dg.AssetCheckExecutionContext, partition: str | None, results: Iterable[dg.AssetCheckResult],
    target: dg.EventLogRecord | None = None,
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation]:
    """``results`` of ``partition`` as this run records them: as they are in a single-partition run,
    as evaluations of that partition in a ranged run. ``target``: the partition's materialization,
    if the caller has read it already (else one storage call)."""
    if not is_ranged(context):
        yield from results
        return
    results = list(results)
    if not results:
        return
    key = results[0].asset_key
    if target is None:
        records = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
        target = records[0] if records else None
    materialization = (
        AssetCheckEvaluationTargetMaterializationData(run_id=target.run_id, storage_id=target.storage_id, timestamp=target.timestamp)
        if target is not None else None
    )
    for result in results:
        yield dg.AssetCheckEvaluation(
            asset_key=result.asset_key, check_name=result.check_name, passed=result.passed, metadata=result.metadata,
            severity=result.severity, description=result.description, target_materialization_data=materialization,
            blocking=False, partition=partition,
        )


def check_outputs(context: dg.AssetCheckExecutionContext) -> Iterator[dg.Output]:
    """In a ranged run, after the evaluations: each selected check's output, which Dagster makes
    from an ``AssetCheckResult`` itself in a single-partition run."""
    if is_ranged(context):
        for spec in context.check_specs:
            if spec.key in context.selected_asset_check_keys:
                yield dg.Output(None, output_name=spec.get_python_identifier())
