"""SLO attainment: per table over the last N days, how many deadlines were met on time.

Reads the instance's materialization history (one query over all assets, paged) and judges each
deadline with the same rule as the SLO sensor (``ml_platform.slo.deadlines``): on time when the
first materialization that counts for it (for daily tables: of the deadline's partition) is at
or before the deadline; late when it came after, before the next deadline; missed when it never
came, or only after the next deadline (the consumer read a stale table for a whole period).

A table's report begins at its first materialization: deadlines before it (a table added last
week, a quick start today after the deadline) are not counted as missed. Tables with nothing in
the window ask the instance for an older materialization (one query each).

Three ways to read it: ``ml-platform slo-report --days 30 --target 0.99 --out slo.png`` (text
table + PNG), the ``slo_attainment_report`` asset in the UI (markdown table + the plot), or
``attainment()`` from Python.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import dagster as dg

from ml_platform import instance_reads
from ml_platform.declaration import Catalog, MLAsset, declarations
from ml_platform.report_asset import embedded_plots, report_asset, report_directory
from ml_platform.slo.deadlines import Materialization, counts_for, deadlines_between, next_deadline, window_start

ON_TIME, LATE, MISSED = "on time", "late", "missed"


@dataclass(frozen=True)
class DeadlineOutcome:
    deadline: datetime
    status: str  # on time | late | missed
    lateness_minutes: float | None  # late only


@dataclass
class TableAttainment:
    asset: str
    target: float
    outcomes: list[DeadlineOutcome] = field(default_factory=list)

    @property
    def deadlines(self) -> int:
        return len(self.outcomes)

    @property
    def on_time(self) -> int:
        return sum(o.status == ON_TIME for o in self.outcomes)

    @property
    def late(self) -> int:
        return sum(o.status == LATE for o in self.outcomes)

    @property
    def missed(self) -> int:
        return sum(o.status == MISSED for o in self.outcomes)

    @property
    def breaches(self) -> int:
        return self.late + self.missed

    @property
    def on_time_ratio(self) -> float | None:
        return self.on_time / self.deadlines if self.deadlines else None

    @property
    def mean_lateness_minutes(self) -> float | None:
        late = [o.lateness_minutes for o in self.outcomes if o.lateness_minutes is not None]
        return sum(late) / len(late) if late else None

    @property
    def worst_lateness_minutes(self) -> float | None:
        late = [o.lateness_minutes for o in self.outcomes if o.lateness_minutes is not None]
        return max(late) if late else None

    @property
    def budget_left(self) -> float:
        """Breaches still allowed by the target over these deadlines (negative: overspent)."""
        return (1 - self.target) * self.deadlines - self.breaches


@dataclass
class AttainmentReport:
    start: datetime
    end: datetime
    target: float
    rows: list[TableAttainment]


def attainment(
    instance: dg.DagsterInstance, asset_graph: Any, days: int = 30, now: datetime | None = None, target: float = 0.99
) -> AttainmentReport:
    """Attainment of every declared asset of an asset graph for the deadlines in ``(now - days, now]``."""
    return declared_attainment(instance, declarations(asset_graph), days, now, target)


def declared_attainment(
    instance: dg.DagsterInstance,
    declared: Mapping[dg.AssetKey, MLAsset],
    days: int = 30,
    now: datetime | None = None,
    target: float = 0.99,
) -> AttainmentReport:
    """Attainment of the given declarations for the deadlines in ``(now - days, now]``."""
    if not 0 < target < 1:
        raise ValueError(f"SLO report: target must be between 0 and 1 (e.g. 0.99), got {target}")
    if days < 1:
        raise ValueError(f"SLO report: days must be at least 1, got {days}")
    end = now or datetime.now(timezone.utc)
    start = end - timedelta(days=days)
    plans = {key.to_user_string(): (decl, deadlines_between(decl, start, end)) for key, decl in declared.items()}
    earliest = min((window_start(d, ds[0]) for d, ds in plans.values() if ds), default=start.timestamp())
    materializations = instance_reads.materializations_after(instance, earliest)
    by_asset: dict[str, list[Materialization]] = {}
    for materialization in materializations:
        by_asset.setdefault(materialization.asset, []).append(materialization)
    rows = []
    for asset, (decl, deadlines) in sorted(plans.items()):
        seen = by_asset.get(asset, [])
        born = _first_materialization(instance, asset, seen, deadlines, earliest)
        judged = [d for d in deadlines if born is not None and d.timestamp() >= born]
        rows.append(TableAttainment(asset, target, [_judge(decl, d, next_deadline(decl, d), seen, end) for d in judged]))
    return AttainmentReport(start=start, end=end, target=target, rows=rows)


def _first_materialization(
    instance: dg.DagsterInstance, asset: str, seen: list[Materialization], deadlines: list[datetime], since: float
) -> float | None:
    """When the table began: its first materialization (None: never). Queried only when the
    window read does not show it before the first deadline."""
    first_seen = min((m.timestamp for m in seen), default=None)
    if not deadlines or (first_seen is not None and first_seen <= deadlines[0].timestamp()):
        return first_seen
    older = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(asset), before_timestamp=since), limit=1
    ).records
    return float("-inf") if older else first_seen


def _judge(
    declaration: MLAsset, deadline: datetime, following: datetime, materializations: list[Materialization], now: datetime
) -> DeadlineOutcome:
    first = min((m.timestamp for m in materializations if counts_for(declaration, deadline, m) and m.timestamp <= now.timestamp()), default=None)
    if first is None or first > following.timestamp():  # after the next deadline: that one's, not this one's
        return DeadlineOutcome(deadline, MISSED, None)
    if first <= deadline.timestamp():
        return DeadlineOutcome(deadline, ON_TIME, None)
    return DeadlineOutcome(deadline, LATE, (first - deadline.timestamp()) / 60)


def render_text(report: AttainmentReport) -> str:
    start, end = report.start.astimezone(timezone.utc), report.end.astimezone(timezone.utc)
    header = f"SLO attainment {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC, target {report.target:.2%}"
    columns = ("table", "deadlines", "on time", "breaches", "late", "missed", "mean late", "worst late", "budget left")
    name_width = max([len(columns[0]), *(len(row.asset) for row in report.rows)])
    lines = [header, _row(columns, name_width)]
    for row in report.rows:
        lines.append(
            _row(
                (
                    row.asset,
                    str(row.deadlines),
                    f"{row.on_time_ratio:.1%}" if row.on_time_ratio is not None else "-",
                    str(row.breaches),
                    str(row.late),
                    str(row.missed),
                    _minutes(row.mean_lateness_minutes),
                    _minutes(row.worst_lateness_minutes),
                    f"{row.budget_left:+.1f}",
                ),
                name_width,
            )
        )
    return "\n".join(lines)


def render_markdown(report: AttainmentReport) -> str:
    lines = [
        f"SLO attainment over {report.start.astimezone(timezone.utc):%Y-%m-%d} .. {report.end.astimezone(timezone.utc):%Y-%m-%d} UTC (target {report.target:.2%}; budget left = breaches still allowed)",
        "",
        "| table | deadlines | on time | breaches | mean late | worst late | budget left |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        ratio = f"{row.on_time_ratio:.1%}" if row.on_time_ratio is not None else "-"
        lines.append(
            f"| {row.asset} | {row.deadlines} | {ratio} | {row.breaches} | {_minutes(row.mean_lateness_minutes)}"
            f" | {_minutes(row.worst_lateness_minutes)} | {row.budget_left:+.1f} |"
        )
    return "\n".join(lines)


def plot(report: AttainmentReport, path: Path) -> Path:
    """One row per table, one column per day: green on time, orange late, red missed, grey no deadline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    dates = {_local_date(o.deadline) for row in report.rows for o in row.outcomes}
    first, last = (min(dates), max(dates)) if dates else (report.end.date(), report.end.date())
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    index = {day: i for i, day in enumerate(days)}
    codes = {ON_TIME: 1, LATE: 2, MISSED: 3}
    grid = [[0] * len(days) for _ in report.rows]
    for r, row in enumerate(report.rows):
        for outcome in row.outcomes:
            day = _local_date(outcome.deadline)
            if day in index:
                grid[r][index[day]] = max(grid[r][index[day]], codes[outcome.status])
    colours = ["#eeeeee", "#2e9d4e", "#f0a030", "#d73027"]
    if not grid or not days:
        grid = [[0] * max(len(days), 1)]
    figure, axes = plt.subplots(figsize=(max(6, 0.3 * len(days) + 3), max(2, 0.28 * len(report.rows) + 1.2)))
    axes.imshow(grid, cmap=ListedColormap(colours), vmin=0, vmax=3, aspect="auto", interpolation="nearest")
    axes.set_yticks(range(len(report.rows)), [row.asset for row in report.rows], fontsize=7)
    step = max(1, len(days) // 15)
    axes.set_xticks(range(0, len(days), step), [d.strftime("%m-%d") for d in days[::step]], fontsize=7, rotation=45)
    axes.set_title(f"SLO on-time status per day (target {report.target:.2%})", fontsize=9)
    axes.legend(
        handles=[Patch(color=c, label=label) for c, label in zip(colours, ["no deadline", ON_TIME, LATE, MISSED], strict=True)],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=7,
    )
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


REPORT_ASSET = "slo_attainment_report"


def build_slo_attainment_report(catalog: Catalog) -> dg.AssetsDefinition:
    """The report asset of a code location assembled from ``catalog`` (its declarations, read once)."""

    def materialize(context: dg.AssetExecutionContext, declared: Mapping[dg.AssetKey, MLAsset]) -> dg.MaterializeResult:
        report = declared_attainment(context.instance, declared, days=30)
        path = plot(report, report_directory(context) / "slo_attainment.png")
        breaching = sum(1 for row in report.rows if row.budget_left < 0)
        return dg.MaterializeResult(
            metadata={
                "attainment": dg.MetadataValue.md(render_markdown(report)),
                "plot": embedded_plots([path], "on-time status per day"),
                "plot file": dg.MetadataValue.path(str(path)),
                "tables over budget": breaching,
            }
        )

    description = "SLO attainment of every declared table over the last 30 days (table + PNG of on-time status per day)."
    return report_asset(REPORT_ASSET, description, catalog, materialize)


def _local_date(deadline: datetime) -> date:
    return deadline.date()  # deadlines are aware datetimes in their SLO's time zone


def _minutes(value: float | None) -> str:
    if value is None:
        return "-"
    minutes = int(round(value))
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _row(cells: Sequence[str], name_width: int) -> str:
    widths = (name_width, 9, 8, 8, 5, 6, 9, 10, 11)
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
