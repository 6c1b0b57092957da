"""The ``prediction_health`` report: per monitored prediction table, drift, coverage and the latest
delayed-label performance, with their trends over the last N days.

Reads the instance in TWO storage calls whatever the number of tables and days: the check
evaluations after the window start (``prediction_drift`` / ``prediction_coverage`` metadata) and
the asset observations after it (the delayed-label sensor's metric). Three ways to read it:
``ml-platform prediction-health --days 30 --out-dir plots/`` (text + one PNG per table), the
``prediction_health`` asset in the ``platform`` group (markdown table + PNG directory), or
``prediction_health()`` from Python.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import dagster as dg

from ml_platform import instance_reads
from ml_platform.checks.prediction_monitoring import monitoring_of
from ml_platform.declaration import Catalog, MLAsset, declarations
from ml_platform.monitoring.assess import COVERAGE_CHECK, DRIFT_CHECK
from ml_platform.monitoring.performance_alerts import METRIC_KEY
from ml_platform.report_asset import embedded_plots, report_asset, report_directory

REPORT_ASSET = "prediction_health"


@dataclass
class TableHealth:
    asset: str
    metric: str | None
    psi: dict[str, float] = field(default_factory=dict)  # partition -> PSI (latest evaluation of each)
    drift_status: dict[str, str] = field(default_factory=dict)  # partition -> pass / warn / error
    covered: dict[str, float] = field(default_factory=dict)
    fallback: dict[str, float] = field(default_factory=dict)
    coverage_status: dict[str, str] = field(default_factory=dict)
    performance: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def latest(series: Mapping[str, float | str]):
        return (max(series), series[max(series)]) if series else (None, None)

    @staticmethod
    def trend(series: Mapping[str, float], last: int = 7) -> float | None:
        """Newest value minus the value ``last`` partitions before (or the oldest there is)."""
        values = [series[p] for p in sorted(series)][-last:]
        return values[-1] - values[0] if len(values) >= 2 else None


@dataclass
class HealthReport:
    start: float
    end: float
    tables: list[TableHealth]
    storage_calls: int = 2


def prediction_health(instance: dg.DagsterInstance, asset_graph, days: int = 30, now: float | None = None) -> HealthReport:
    return declared_health(instance, declarations(asset_graph), days, now)


def declared_health(instance: dg.DagsterInstance, declared: Mapping[dg.AssetKey, MLAsset], days: int = 30, now: float | None = None) -> HealthReport:
    if days < 1:
        raise ValueError(f"prediction-health: days must be at least 1, got {days}")
    end = now or time.time()
    start = end - days * 86400.0
    monitored = {key: monitoring_of(d) for key, d in declared.items() if monitoring_of(d) is not None}
    rows = {key: TableHealth(key.to_user_string(), settings.metric_name if settings.label_table else None) for key, settings in monitored.items()}
    for record in instance_reads.asset_events_after(instance, dg.DagsterEventType.ASSET_CHECK_EVALUATION, start):
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        row = rows.get(evaluation.asset_key)
        if row is None or evaluation.check_name not in (DRIFT_CHECK, COVERAGE_CHECK):
            continue
        metadata = {name: getattr(value, "value", value) for name, value in evaluation.metadata.items()}
        partition = evaluation.partition or metadata.get("partition")
        if partition is None:
            continue
        status = "pass" if evaluation.passed else evaluation.severity.value.lower()
        if evaluation.check_name == DRIFT_CHECK:
            row.drift_status[partition] = status
            if "psi" in metadata:
                row.psi[partition] = float(metadata["psi"])
        else:
            row.coverage_status[partition] = status
            if metadata.get("covered_share") is not None:
                row.covered[partition] = float(metadata["covered_share"])
            if metadata.get("fallback_share") is not None:
                row.fallback[partition] = float(metadata["fallback_share"])
    for record in instance_reads.asset_events_after(instance, dg.DagsterEventType.ASSET_OBSERVATION, start):
        observation = record.asset_observation
        row = rows.get(record.asset_key)
        if row is None or observation is None or METRIC_KEY not in observation.metadata:
            continue
        partition = record.event_log_entry.dagster_event.partition
        if partition:
            row.performance[partition] = float(observation.metadata[METRIC_KEY].value)
    return HealthReport(start, end, sorted(rows.values(), key=lambda r: r.asset))


def _value(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _trend(value) -> str:
    return "-" if value is None else f"{value:+.3f}"


COLUMNS = ("table", "partition", "drift", "PSI", "PSI 7d", "coverage", "covered", "fallback", "fallback 7d", "metric", "value", "value 7d")


def report_rows(report: HealthReport) -> list[tuple[str, ...]]:
    rows = []
    for t in report.tables:
        partition, drift = t.latest(t.drift_status)
        _, coverage = t.latest(t.coverage_status)
        _, perf = t.latest(t.performance)
        rows.append(
            (
                t.asset,
                partition or "-",
                drift or "-",
                _value(t.latest(t.psi)[1], ".3f"),
                _trend(t.trend(t.psi)),
                coverage or "-",
                _value(t.latest(t.covered)[1], ".1%"),
                _value(t.latest(t.fallback)[1], ".1%"),
                _trend(t.trend(t.fallback)),
                t.metric or "-",
                _value(perf, ".3f"),
                _trend(t.trend(t.performance)),
            )
        )
    return rows


def render_text(report: HealthReport) -> str:
    rows = [COLUMNS, *report_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    header = f"Prediction health over the last {round((report.end - report.start) / 86400)} days ({len(report.tables)} tables)"
    return "\n".join([header, *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)])


def render_markdown(report: HealthReport) -> str:
    lines = [
        f"Prediction health over the last {round((report.end - report.start) / 86400)} days; 7d = change over the last 7 partitions",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in report_rows(report)]
    return "\n".join(lines)


def plot_tables(report: HealthReport, directory: Path) -> list[Path]:
    """One PNG per table: PSI, coverage / fallback shares and the metric per partition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in report.tables:
        figure, axes = plt.subplots(1, 3, figsize=(11, 2.8), dpi=80)
        for ax, title, series in (
            (axes[0], "PSI vs the pinned reference", {"PSI": t.psi}),
            (axes[1], "coverage", {"covered": t.covered, "fallback": t.fallback}),
            (axes[2], f"delayed-label {t.metric or 'metric'}", {t.metric or "metric": t.performance}),
        ):
            for label, values in series.items():
                if values:
                    keys = sorted(values)
                    ax.plot([k[5:] for k in keys], [values[k] for k in keys], marker=".", label=label)
            ax.set_title(title, fontsize=9)
            ax.tick_params(axis="x", labelsize=6, rotation=60)
            ax.tick_params(axis="y", labelsize=7)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        figure.suptitle(t.asset, fontsize=10)
        figure.tight_layout()
        path = directory / f"{t.asset.replace('/', '__')}.png"
        figure.savefig(path)
        plt.close(figure)
        paths.append(path)
    return paths


def build_prediction_health_report(catalog: Catalog) -> dg.AssetsDefinition:
    """The report asset of a code location assembled from ``catalog`` (its declarations, read once)."""

    def materialize(context: dg.AssetExecutionContext, declared: Mapping[dg.AssetKey, MLAsset]) -> dg.MaterializeResult:
        report = declared_health(context.instance, declared, days=30)
        directory = report_directory(context) / REPORT_ASSET
        paths = plot_tables(report, directory)
        unhealthy = sum(1 for row in report_rows(report) if row[2] not in ("pass", "-") or row[5] not in ("pass", "-"))
        return dg.MaterializeResult(
            metadata={
                "health": dg.MetadataValue.md(render_markdown(report)),
                "plots": embedded_plots(paths, "prediction health"),
                "plot files": dg.MetadataValue.path(str(directory)),
                "tables": len(report.tables),
                "tables failing drift or coverage": unhealthy,
            }
        )

    description = (
        "Drift, coverage and delayed-label performance of every monitored prediction table over the last 30 days"
        " (table + one PNG per table)."
    )
    return report_asset(REPORT_ASSET, description, catalog, materialize)
