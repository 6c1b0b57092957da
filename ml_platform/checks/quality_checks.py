"""Default data-quality checks for every declared table with expectations, added at assembly.

Each table gets one ``@multi_asset_check`` op, ``<table>_quality_checks``, partitioned like the
table, so a run that materializes partition P checks partition P right after it is written (a run
over a range checks each partition of it on its own, ``checks.partition_results``):

* history: ``row_count_change``, ``row_count_decline`` and ``column_schema_change`` from the
  IO manager's materialization metadata, in ONE storage call (the latest materializations of
  this partition and of the partitions before it);
* content: ``null_rate``, ``duplicate_keys``, ``score_range``, ``top_k_completeness``, computed
  on the partition loaded back through the table's own IO manager. A check op (rather than code
  inside the asset) keeps product code untouched, lets the checks be re-run alone, and checks what
  consumers will actually read; the price is one read of the partition.

The op is subsettable (``can_subset``): a run may select any of its checks without the table
(Dagster's ``canExecuteIndividually``), for one partition, and gets only those results. A
re-run reads the same history, so its verdict is the one the materializing run gave, unless the
partition, its neighbours or the declared policy changed since.

Every check is ``blocking``: a failed result with ERROR severity stops downstream assets in the
run (the gate); a WARN result lets them through. Severity is decided per result (see verdicts).
"""

import warnings
from typing import Sequence

import dagster as dg
import pandas as pd

from ml_platform.checks import row_count, sanity
from ml_platform.checks.partition_results import check_outputs, is_ranged, partition_results, step_partitions
from ml_platform.checks.verdict import Verdict
from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import Catalog, MLAsset
from ml_platform.resources.window_reads import split_by_partition

HISTORY_CHECKS = (row_count.CHANGE_CHECK, row_count.DECLINE_CHECK, sanity.SCHEMA_CHECK)
SCHEMA_KEYS = ("dagster/column_schema", "dataframe_columns")
REMATERIALIZATIONS = 3  # records fetched per partition looked at, to survive re-runs of one partition


def build_quality_checks(catalog: Catalog) -> list[dg.AssetChecksDefinition]:
    """History and content checks for every declared asset of ``catalog`` (``declared_specs``) that has expectations."""
    return [quality_checks(key, d) for key, d in catalog.items() if d.expectations is not None]


def _specs(key: dg.AssetKey, declaration: MLAsset, names: Sequence[str]) -> list[dg.AssetCheckSpec]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks are a preview API
        return [
            dg.AssetCheckSpec(name, asset=key, blocking=True, partitions_def=declaration.partitions_def, description=DESCRIPTIONS[name])
            for name in names
        ]


def check_names(expectations) -> list[str]:
    """Every check a table with these expectations gets, in evaluation order."""
    return [*HISTORY_CHECKS, *sanity.table_check_names(expectations)]


def check_op_name(key: dg.AssetKey) -> str:
    return f"{key.to_python_identifier()}_quality_checks"


def quality_checks(key: dg.AssetKey, declaration: MLAsset) -> dg.AssetChecksDefinition:
    """One check op per table: a step costs a process under the multiprocess executor, so the
    history and content checks share one."""
    expectations = declaration.expectations
    partitions_def = declaration.partitions_def

    @dg.multi_asset_check(
        specs=_specs(key, declaration, check_names(expectations)),
        name=check_op_name(key),
        description=f"Row-count history, column schema and prediction sanity of {key.to_user_string()}.",
        ins={"table": dg.AssetIn(key)},
        op_tags=PROFILES[declaration.compute].op_tags(),
        can_subset=True,
    )
    def _quality(context: dg.AssetCheckExecutionContext, table: pd.DataFrame):
        selected = {k.name for k in context.selected_asset_check_keys}
        history = bool(selected & set(HISTORY_CHECKS))  # a re-run of content checks alone reads no history
        partitions = step_partitions(context)
        rows = split_by_partition(table, declaration.partition_column) if is_ranged(context) else {partitions[0]: table}
        for partition in partitions:  # one, or each partition of a ranged run
            records = history_records(context.instance, key, partitions_def, partition, expectations.row_count) if history else []
            verdicts = [*(assess_history(records, partition, expectations.row_count) if history else []),
                        *sanity.assess_table(rows.get(partition, table.iloc[0:0]), expectations, selected)]
            target = next((r for r in records if r.partition_key == partition), None)
            yield from partition_results(context, partition, [v.to_result(key, partition) for v in verdicts if v.check in selected], target)
        yield from check_outputs(context)

    return _quality


def evaluate_history(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def, partition: str | None, policy) -> list[Verdict]:
    """The history checks' verdicts for one partition, from one materialization query."""
    return assess_history(history_records(instance, key, partitions_def, partition, policy), partition, policy)


def history_records(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def, partition: str | None, policy) -> Sequence[dg.EventLogRecord]:
    """The materializations a history evaluation of one partition reads, newest first (one storage call)."""
    records_filter, limit = history_query(key, partitions_def, partition, policy)
    return instance.fetch_materializations(records_filter, limit=limit).records


def history_query(key: dg.AssetKey, partitions_def, partition: str | None, policy) -> tuple[dg.AssetRecordsFilter, int]:
    """The one materialization query a history evaluation makes: this partition and the
    ``row_count.history_span(policy)`` partitions before it (latest materializations first)."""
    span = row_count.history_span(policy)
    if partition is None or partitions_def is None:
        return dg.AssetRecordsFilter(asset_key=key), span + 1
    keys = [partition, *previous_partition_keys(partitions_def, partition, span)]
    return dg.AssetRecordsFilter(asset_key=key, asset_partitions=keys), REMATERIALIZATIONS * len(keys)


def previous_partition_keys(partitions_def: dg.TimeWindowPartitionsDefinition, partition: str, count: int) -> list[str]:
    """Up to ``count`` partition keys before ``partition``, newest first."""
    keys, window = [], partitions_def.time_window_for_partition_key(partition)
    for _ in range(count):
        window = partitions_def.get_prev_partition_window(window.start)
        if window is None:
            break
        keys.append(window.start.strftime(partitions_def.fmt))
    return keys


def assess_history(records: Sequence[dg.EventLogRecord], partition: str | None, policy) -> list[Verdict]:
    """Row-count and schema verdicts from newest-first materialization records."""
    materializations = [r.asset_materialization for r in records if r.asset_materialization is not None]
    counts = row_count.latest_counts((m.partition, _row_count(m.metadata)) for m in materializations)
    current = next((m for m in materializations if m.partition == partition), None)
    # The schema is compared with the latest earlier partition: a rerun that fixes a broken day is
    # not compared with that day's broken version. Its own older version only when no earlier day exists.
    others = [m for m in materializations if m is not current]
    previous = next((m for m in others if m.partition != partition), None) or next(iter(others), None) if current else None
    schema = sanity.assess_schema_change(
        _columns(current.metadata) if current else None, _columns(previous.metadata) if previous else None
    )
    return [*row_count.assess_row_counts(counts, partition, policy), schema]


def _row_count(metadata) -> int | None:
    for name in row_count.ROW_COUNT_KEYS:
        if name in metadata:
            return int(metadata[name].value)
    return None


def _columns(metadata) -> dict[str, str] | None:
    for name in SCHEMA_KEYS:
        value = metadata.get(name)
        if isinstance(value, dg.TableSchemaMetadataValue):
            return {column.name: column.type for column in value.schema.columns}
    return None


DESCRIPTIONS = {
    row_count.CHANGE_CHECK: "Row count against the median of the last N partitions: a drop warns, then errors; a spike warns.",
    row_count.DECLINE_CHECK: "Sustained fall of the row count over the last K partitions, however small each day's step.",
    sanity.SCHEMA_CHECK: "Columns and types against the latest earlier partition: removed or retyped errors, added warns.",
    sanity.NULL_CHECK: "Null rate of the key and score columns within the declared max_null_rate.",
    sanity.DUPLICATE_CHECK: "No two rows share the declared key columns.",
    sanity.RANGE_CHECK: "Every score within the declared score_range.",
    sanity.TOP_K_CHECK: "Every value of the first key column has exactly top_k rows.",
}
