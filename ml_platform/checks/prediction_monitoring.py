"""The ``prediction_drift`` and ``prediction_coverage`` checks of every monitored prediction table.

Each prediction table whose expectations name a ``score_column`` (and that does not declare
``Monitoring(enabled=False)``) gets one more check op, ``<table>_prediction_monitoring``,
partitioned like the table. It runs after the table's partition P is written (the check's asset is
a dependency of the op) and reads P and the trailing ``reference_partitions`` partitions from the
warehouse in one query (``window_reader``), plus the same window of the declared
``expected_entities`` table. Verdicts come from ``ml_platform.monitoring.assess``: WARN past one
threshold, ERROR past the other. The checks block consumers (in the run, and across runs through
the gate) only when the table declares ``error_blocks_consumers=True``.
"""

import base64
import warnings
from pathlib import Path
from typing import Iterable

import dagster as dg
import numpy as np
import pandas as pd

from ml_platform.checks.partition_results import check_outputs, partition_results, step_partitions
from ml_platform.checks.quality_checks import previous_partition_keys
from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import DeclarationError, MLAsset, PredictionTable, declared_specs
from ml_platform.monitoring.assess import (
    COVERAGE_CHECK,
    DRIFT_CHECK,
    Assessment,
    assess_coverage,
    assess_drift,
    coverage_of,
)
from ml_platform.monitoring.settings import Monitoring
from ml_platform.resources.window_reads import WINDOW_READER_KEY, split_by_partition

MONITORING_CHECKS = (DRIFT_CHECK, COVERAGE_CHECK)
PLOT_DIRECTORY = "prediction_monitoring"
DESCRIPTIONS = {
    DRIFT_CHECK: "Score (and segment column) distribution against the trailing partitions: PSI on the reference's deciles, two-sample KS.",
    COVERAGE_CHECK: "Share of expected entities with a prediction and share given the fallback, against the trailing median.",
}


def monitoring_of(declaration: MLAsset) -> Monitoring | None:
    """The effective monitoring of a declared asset (None: not a monitored prediction table)."""
    return declaration.monitoring_settings() if isinstance(declaration, PredictionTable) else None


def monitoring_check_names(declaration: MLAsset) -> list[str]:
    return list(MONITORING_CHECKS) if monitoring_of(declaration) else []


def blocking_monitoring_checks(declaration: MLAsset) -> list[str]:
    """The monitoring checks whose ERROR keeps consumers from reading the partition."""
    settings = monitoring_of(declaration)
    return list(MONITORING_CHECKS) if settings and settings.error_blocks_consumers else []


def monitoring_op_name(key: dg.AssetKey) -> str:
    return f"{key.to_python_identifier()}_prediction_monitoring"


def build_monitoring_checks(assets: Iterable[dg.AssetsDefinition | dg.AssetSpec]) -> list[dg.AssetChecksDefinition]:
    """Drift and coverage checks for every monitored prediction table; a declared expected-entities
    or label table that is not in the catalog fails here, naming table and field."""
    declared = declared_specs(assets)
    by_name = {key.to_user_string(): (key, d) for key, d in declared.items()}
    checks = []
    for key, declaration in declared.items():
        settings = monitoring_of(declaration)
        if settings is None:
            continue
        expected = None
        for field_name, target in (("expected_entities", settings.expected_entities), ("label_table", settings.label_table)):
            if target is not None and target not in by_name:
                raise DeclarationError(
                    f"{declaration.LABEL} '{declaration.name}': field 'monitoring.{field_name}': no declared asset '{target}' in this code location"
                )
            if target is not None and not by_name[target][1].partition_column:
                raise DeclarationError(
                    f"{declaration.LABEL} '{declaration.name}': field 'monitoring.{field_name}': '{target}' is not daily-partitioned"
                )
        if settings.expected_entities:
            expected_key, expected_declaration = by_name[settings.expected_entities]
            expected = (expected_key, expected_declaration.partition_column)
        checks.append(monitoring_checks(key, declaration, settings, expected))
    return checks


def monitoring_checks(
    key: dg.AssetKey, declaration: PredictionTable, settings: Monitoring, expected: tuple[dg.AssetKey, str] | None
) -> dg.AssetChecksDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks are a preview API
        specs = [
            dg.AssetCheckSpec(
                name, asset=key, blocking=settings.error_blocks_consumers, partitions_def=declaration.partitions_def, description=DESCRIPTIONS[name]
            )
            for name in MONITORING_CHECKS
        ]

    @dg.multi_asset_check(
        specs=specs,
        name=monitoring_op_name(key),
        description=f"Prediction drift and coverage of {key.to_user_string()} against its trailing partitions.",
        required_resource_keys={WINDOW_READER_KEY},
        op_tags=PROFILES[declaration.compute].op_tags(),
        can_subset=True,  # either check can be re-run alone (Dagster's canExecuteIndividually)
    )
    def _monitor(context: dg.AssetCheckExecutionContext):
        reader = getattr(context.resources, WINDOW_READER_KEY)
        plots = Path(context.instance.storage_directory()) / PLOT_DIRECTORY
        selected = context.selected_asset_check_keys
        for partition in step_partitions(context):  # one, or each partition of a ranged run
            results = evaluate_monitoring(reader, key, declaration, settings, expected, partition, plots)
            yield from partition_results(context, partition, [r for r in results if dg.AssetCheckKey(key, r.check_name) in selected])
        yield from check_outputs(context)

    return _monitor


def evaluate_monitoring(
    reader, key: dg.AssetKey, declaration: PredictionTable, settings: Monitoring, expected, partition: str, plots: Path | None
) -> list[dg.AssetCheckResult]:
    """Both checks' results for one partition: one window read of the table, one of the expected entities."""
    column = declaration.partition_column
    score = declaration.expectations.score_column
    previous = previous_partition_keys(declaration.partitions_def, partition, settings.reference_partitions)  # newest first
    first = previous[-1] if previous else partition
    wanted = [c for c in dict.fromkeys((column, settings.entity_column, score, *settings.segment_columns, settings.fallback_column)) if c]
    by_partition = split_by_partition(reader.read(key, column, first, partition, columns=wanted), column)
    current = by_partition.get(partition)
    if current is None:
        summary = f"partition {partition} has no rows in the warehouse: nothing to monitor"
        return [_result(key, Assessment(name, "WARN", {}), partition, summary) for name in MONITORING_CHECKS]
    window = [p for p in reversed(previous) if p in by_partition]  # oldest first
    reference = [by_partition[p] for p in window]
    window_text = f"{window[0]} .. {window[-1]} ({len(window)} partitions)" if window else "none yet"

    drift = assess_drift(current, reference, score, settings)
    drift_meta = {"reference_window": window_text, **drift.metadata}
    if reference:
        drift_meta["score_distribution"] = _plot_metadata(reference, current, score, key, partition, plots)
    drift_summary = (
        f"PSI {drift.metadata['psi']:.3f} on {drift.metadata['worst_column']} vs {window_text} "
        f"(warn {settings.psi_warn}, error {settings.psi_error}); KS {drift.metadata['ks_statistic']:.3f}"
        if reference
        else "no reference partitions yet"
    )

    expected_by = {}
    if expected is not None:
        expected_key, expected_column = expected
        frame = reader.read(expected_key, expected_column, first, partition, columns=[expected_column, settings.entity_column])
        expected_by = {p: rows[settings.entity_column].to_numpy() for p, rows in split_by_partition(frame, expected_column).items()}

    def coverage(p: str, rows: pd.DataFrame):
        return coverage_of(rows, expected_by.get(p) if expected is not None else None, score, settings)

    history = [coverage(p, by_partition[p]) for p in window]
    now = coverage(partition, current)
    covered = assess_coverage(now, history, settings)
    coverage_meta = {"reference_window": window_text, "statistic": "change vs trailing median (absolute share)", **covered.metadata}
    if expected is not None and partition not in expected_by:
        coverage_meta["note"] = f"expected entities '{expected[0].to_user_string()}' have no partition {partition}"
    coverage_summary = f"covered {_share(now.covered_share)}, fallback {_share(now.fallback_share)} vs the median of {window_text}"
    return [_result(key, drift, partition, drift_summary, drift_meta), _result(key, covered, partition, coverage_summary, coverage_meta)]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _result(key: dg.AssetKey, assessment: Assessment, partition: str, summary: str, metadata: dict | None = None) -> dg.AssetCheckResult:
    values = {"summary": summary, "partition": partition}
    for name, value in (metadata if metadata is not None else assessment.metadata).items():
        if value is None:
            continue
        values[name] = dg.MetadataValue.json(value) if isinstance(value, (list, dict)) else value
    severity = assessment.severity
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=assessment.check,
        passed=severity is None,
        severity=dg.AssetCheckSeverity.ERROR if severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        metadata=values,
        description=summary,
    )


def _plot_metadata(reference, current, score: str, key: dg.AssetKey, partition: str, plots: Path | None):
    from ml_platform.monitoring.plots import drift_plot_png

    png = drift_plot_png(
        np.concatenate([r[score].to_numpy(dtype="float64") for r in reference]),
        current[score].to_numpy(dtype="float64"),
        f"{key.to_user_string()} {partition}",
    )
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        (plots / f"{key.to_python_identifier()}_{partition}.png").write_bytes(png)
    return dg.MetadataValue.md(f"![score distribution today vs reference](data:image/png;base64,{base64.b64encode(png).decode()})")
