"""The ``prediction_drift`` and ``prediction_coverage`` checks of every monitored prediction table.

Each prediction table whose expectations name a ``score_column`` (and that does not declare
``Monitoring(enabled=False)``) gets one more check op, ``<table>_prediction_monitoring``,
partitioned like the table. It runs after the table's partition P is written (the check's asset is
a dependency of the op), reads P alone from the warehouse (``window_reader``) and the same
partition of the declared ``expected_entities`` table, and compares P with the recorded summaries
of earlier partitions: the pinned reference and the day-over-day window (``monitoring.reference``).
It then records P's own summary (an ``AssetObservation`` of P) for the checks of later partitions,
so no check re-reads old partitions. ``prediction_coverage`` exists only for a table that declares
what to cover (``expected_entities``, ``fallback_column`` or ``fallback_score``).

The op runs with the ``light`` compute profile whatever the table's: it reads one partition, so a
``large`` or GPU table's checks do not request that size. Verdicts come from
``ml_platform.monitoring.assess``. The checks block consumers (in the run, and across runs through
the gate) only when the table declares ``error_blocks_consumers=True``.
"""

import base64
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import dagster as dg

from ml_platform.checks.partition_results import check_outputs, partition_results, step_partitions
from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import Catalog, DeclarationError, MLAsset, Model, PredictionTable
from ml_platform.monitoring.assess import COVERAGE_CHECK, DRIFT_CHECK, JUDGED, Assessment, judge
from ml_platform.monitoring.reference import SUMMARY_KEY, partitions_to_read
from ml_platform.monitoring.reference_store import pin_in_force, read_summaries
from ml_platform.monitoring.settings import Monitoring
from ml_platform.monitoring.statistics import columns_read
from ml_platform.resources.window_reads import WINDOW_READER_KEY

MONITORING_CHECKS = (DRIFT_CHECK, COVERAGE_CHECK)
MONITORING_PROFILE = "light"
PLOT_DIRECTORY = "prediction_monitoring"
DESCRIPTIONS = {
    DRIFT_CHECK: "Score, segment and (top-k) rank-k score and item-mix distributions against the pinned reference and the previous"
    " partitions: PSI bands, when significant for the partition's size.",
    COVERAGE_CHECK: "Share of expected entities with a prediction and share given the fallback, against the pinned reference and the"
    " previous partitions.",
}


def monitoring_of(declaration: MLAsset) -> Monitoring | None:
    """The effective monitoring of a declared asset (None: not a monitored prediction table)."""
    return declaration.monitoring_settings() if isinstance(declaration, PredictionTable) else None


def check_names_of(settings: Monitoring) -> list[str]:
    return [DRIFT_CHECK, COVERAGE_CHECK] if settings.has_coverage else [DRIFT_CHECK]


def monitoring_check_names(declaration: MLAsset) -> list[str]:
    settings = monitoring_of(declaration)
    return check_names_of(settings) if settings else []


def blocking_monitoring_checks(declaration: MLAsset) -> list[str]:
    """The monitoring checks whose ERROR keeps consumers from reading the partition."""
    settings = monitoring_of(declaration)
    return check_names_of(settings) if settings and settings.error_blocks_consumers else []


def monitoring_op_name(key: dg.AssetKey) -> str:
    return f"{key.to_python_identifier()}_prediction_monitoring"


def build_monitoring_checks(assets: Iterable[dg.AssetsDefinition | dg.AssetSpec], declared: Catalog) -> list[dg.AssetChecksDefinition]:
    """Drift and coverage checks for every monitored prediction table of the catalog ``declared``
    (of ``assets``); a declared expected-entities or label table that is not in the catalog fails
    here, naming table and field."""
    assets = list(assets)
    by_name = {key.to_user_string(): (key, d) for key, d in declared.items()}
    models = _upstream_models(assets, declared)
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
        checks.append(monitoring_checks(key, declaration, settings, expected, models.get(key, [])))
    return checks


def _upstream_models(assets: list, declared: Catalog) -> dict[dg.AssetKey, list[dg.AssetKey]]:
    """Each asset's declared ``Model`` dependencies: their retraining re-pins its reference."""
    return {
        spec.key: [dep.asset_key for dep in spec.deps if isinstance(declared.get(dep.asset_key), Model)]
        for item in assets
        for spec in getattr(item, "specs", [item])
    }


def monitoring_checks(
    key: dg.AssetKey,
    declaration: PredictionTable,
    settings: Monitoring,
    expected: tuple[dg.AssetKey, str] | None,
    model_keys: list[dg.AssetKey] = (),
) -> dg.AssetChecksDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks are a preview API
        specs = [
            dg.AssetCheckSpec(
                name, asset=key, blocking=settings.error_blocks_consumers, partitions_def=declaration.partitions_def, description=DESCRIPTIONS[name]
            )
            for name in check_names_of(settings)
        ]

    @dg.multi_asset_check(
        specs=specs,
        name=monitoring_op_name(key),
        description=f"Prediction drift{' and coverage' if settings.has_coverage else ''} of {key.to_user_string()} against its pinned"
        " reference and its previous partitions.",
        required_resource_keys={WINDOW_READER_KEY},
        op_tags=PROFILES[MONITORING_PROFILE].op_tags(),  # one partition and a few summaries: never the table's size
        can_subset=True,  # either check can be re-run alone (Dagster's canExecuteIndividually)
    )
    def _monitor(context: dg.AssetCheckExecutionContext):
        reader = getattr(context.resources, WINDOW_READER_KEY)
        plots = Path(context.instance.storage_directory()) / PLOT_DIRECTORY
        selected = context.selected_asset_check_keys
        for partition in step_partitions(context):  # one, or each partition of a ranged run
            events = evaluate_monitoring(reader, context.instance, key, declaration, settings, expected, list(model_keys), partition, plots)
            yield from (e for e in events if isinstance(e, dg.AssetObservation))  # the partition's summary
            results = [e for e in events if isinstance(e, dg.AssetCheckResult) and dg.AssetCheckKey(key, e.check_name) in selected]
            yield from partition_results(context, partition, results)
        yield from check_outputs(context)

    return _monitor


def evaluate_monitoring(
    reader, instance: dg.DagsterInstance, key: dg.AssetKey, declaration: PredictionTable, settings: Monitoring, expected,
    model_keys: list[dg.AssetKey], partition: str, plots: Path | None,
) -> list:
    """The partition's summary observation and both checks' results: one read of the partition,
    one of the expected entities' partition, a few reads of the instance."""
    column = declaration.partition_column
    score = declaration.expectations.score_column
    frame = reader.read(key, column, partition, partition, columns=columns_read(score, settings))
    names = check_names_of(settings)
    if frame.empty:
        summary = f"partition {partition} has no rows in the warehouse: nothing to monitor"
        return [_result(key, Assessment(name, "WARN", summary), partition) for name in names]
    entities, note = None, None
    if expected is not None:
        expected_key, expected_column = expected
        rows = reader.read(expected_key, expected_column, partition, partition, columns=[settings.entity_column])
        if rows.empty:
            note = f"expected entities '{expected_key.to_user_string()}' have no partition {partition}"
        else:
            entities = rows[settings.entity_column].to_numpy()
    pin = pin_in_force(instance, key, model_keys, partition)
    history = read_summaries(instance, key, partitions_to_read(pin, partition, settings.reference_partitions))
    judgement = judge(frame, entities, history, pin, partition, settings, score, declaration.expectations.top_k)
    summary = judgement.summary
    if note and judgement.coverage is not None:  # coverage unknown that day: never a known-good partition for it
        summary = replace(summary, passed={**summary.passed, COVERAGE_CHECK: False})
    events: list = [dg.AssetObservation(asset_key=key, partition=partition, metadata={SUMMARY_KEY: dg.MetadataValue.json(summary.to_json())})]
    drift = judgement.drift
    extra = {}
    if drift.severity and score in judgement.pinned:  # the plot is drawn for a failed check only: it costs a second
        extra["score_distribution"] = _plot_metadata(judgement.pinned[score], judgement.current[score], key, partition, plots)
    events.append(_result(key, drift, partition, extra))
    coverage = judgement.coverage
    if coverage is not None and note:  # the population to cover is missing: nothing says coverage held
        judged = {k: v for k, v in coverage.metadata.items() if k != JUDGED}
        coverage = replace(coverage, severity=coverage.severity or "WARN", summary=f"{note}: covered share not judged; {coverage.summary}",
                           metadata=judged)
    if coverage is not None:
        events.append(_result(key, coverage, partition, {"note": note} if note else {}))
    return events


def _result(key: dg.AssetKey, assessment: Assessment, partition: str, extra: dict | None = None) -> dg.AssetCheckResult:
    values = {"summary": assessment.summary, "partition": partition}
    for name, value in {**assessment.metadata, **(extra or {})}.items():
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
        description=assessment.summary,
    )


def _plot_metadata(reference, current, key: dg.AssetKey, partition: str, plots: Path | None):
    from ml_platform.monitoring.plots import drift_plot_png

    png = drift_plot_png(reference.values, reference.weights, current.values, f"{key.to_user_string()} {partition}")
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        (plots / f"{key.to_python_identifier()}_{partition}.png").write_bytes(png)
    return dg.MetadataValue.md(f"![score distribution: this partition vs the pinned reference](data:image/png;base64,{base64.b64encode(png).decode()})")
