"""The gate across runs: a consumer never reads a bad or missing upstream partition.

Blocking checks stop consumers in the same run. Products run on their own schedules, so a
consumer often reads another product's table in a later run: the warehouse IO managers call
``check_upstream`` before handing a partition to a step. It refuses a partition whose latest
check evaluations include an ERROR failure (``checks.holds``, the rule the launch on data shares:
a WARN never holds a consumer), and one that has no rows (not materialized yet), so the step
fails with the reason — then retries, and the SLO sensor names the upstream.
Reads of many partitions (a model's training history) are not gated partition by partition.
"""

import dagster as dg

from ml_platform.checks.holds import holds
from ml_platform.checks.prediction_monitoring import monitoring_op_name
from ml_platform.checks.quality_checks import check_op_name
from ml_platform.declaration import read_declaration


class UpstreamNotReady(Exception):
    """The upstream partition does not exist (yet): the step's retries may find it later."""


class UpstreamTableMissing(dg.Failure):
    """The upstream table is not in the warehouse although Dagster recorded it (another warehouse
    file, a fresh dataset): retrying cannot help, so the step fails at once."""

    def __init__(self, description: str):
        super().__init__(description=description, allow_retries=False)


def single_partition(context: dg.InputContext) -> str | None:
    if not context.has_asset_partitions:
        return None
    keys = context.asset_partition_keys
    return keys[0] if len(keys) == 1 else None


def check_upstream(context: dg.InputContext) -> None:
    """Raise if the one upstream partition this input reads is held by its checks (``checks.holds``)."""
    partition = single_partition(context)
    upstream = context.upstream_output
    declaration = read_declaration(upstream.definition_metadata or {}) if upstream else None
    if partition is None or declaration is None:
        return
    try:
        reader = context.op_def.name
    except dg.DagsterInvariantViolationError:
        return  # read outside any step (Definitions.load_asset_value): how one inspects a refused partition
    if reader in (check_op_name(context.asset_key), monitoring_op_name(context.asset_key)):
        return  # the table's own checks re-read it: that is how a failed partition gets re-judged
    held = holds(context.instance, context.asset_key, declaration, partition)
    if held:
        raise dg.Failure(
            description=held_description(context.asset_key, partition, held),
            allow_retries=False,  # retrying cannot help until someone re-runs the upstream partition or its checks
        )


def held_description(asset_key: dg.AssetKey, partition: str, held: list) -> str:
    """Why a consumer does not read this upstream partition, and what to do."""
    table = asset_key.to_user_string()
    failed = [h.check for h in held if not h.unchecked]
    if failed:
        return (f"upstream table '{table}' partition {partition} failed its check(s) {', '.join(failed)} with ERROR: not reading it. "
                "Fix or re-run that partition, then re-run this one.")
    unchecked = ", ".join(h.check for h in held)
    # What to do first: a CLI row keeps the first 200 characters.
    return (f"upstream table '{table}' partition {partition} was written but never checked: run its checks (UI: the "
            f"table's Checks tab, Execute), then re-run this one. Run {held[0].run_id[:8]} ended before its check(s) {unchecked}.")


def held_by_checks(instance: dg.DagsterInstance, asset_key: dg.AssetKey, declaration, partition: str) -> str | None:
    """Why ``partition`` of a table holds its consumers (``checks.holds``), or None."""
    held = holds(instance, asset_key, declaration, partition)
    return held_description(asset_key, partition, held) if held else None


def refuse_missing_partition(context: dg.InputContext, rows: int) -> None:
    partition = single_partition(context)
    if partition is not None and rows == 0:
        raise UpstreamNotReady(
            f"upstream table '{context.asset_key.to_user_string()}' has no rows for partition {partition}: "
            "it has not been materialized yet (or was emptied)."
        )
