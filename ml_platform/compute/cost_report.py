"""Cost per table (or product) and per day over the last N days, from the cost each step attempt recorded.

Reads every attempt record of the last N days (``instance_reads.attempts_after``: successful,
OOM-killed, preempted and failed attempts alike) and every materialization (one paged read each)
and sums ``ml_platform/cost_usd`` (``pricing``). An attempt counts for the day of data it produced
— its partition, for daily tables — or, unpartitioned, the UTC day it ran; reruns count again, as
they are paid again. What could not be priced is listed as unpriced with a warning line: an attempt
whose price sheet failed, and a materialization of a declared table with no attempt record of its
run. A table's cost per day counts only the days since its first materialization. Costs of steps
that ran as local processes are estimates of their declared backend, and are labelled so.

Three ways to read it: ``ml-platform cost --days 7 --by table|product --out cost.png`` (text + PNG),
the ``cost_report`` asset in the ``platform`` group (markdown + PNG path), or ``cost_report()``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from ml_platform import instance_reads
from ml_platform.compute.pricing import load_price_sheet
from ml_platform.declaration import Catalog, MLAsset
from ml_platform.report_asset import embedded_plots, report_asset, report_directory

BY_TABLE, BY_PRODUCT = "table", "product"
UNDECLARED = "(undeclared)"


@dataclass
class CostReport:
    start: datetime
    end: datetime
    by: str
    price_sheet: str
    days: list[date]
    costs: dict[str, dict[date, float]] = field(default_factory=dict)  # table or product -> day -> USD
    runs: dict[str, int] = field(default_factory=dict)  # materializations
    attempts: dict[str, int] = field(default_factory=dict)  # priced step attempts, killed and retried ones included
    unpriced: dict[str, list[str]] = field(default_factory=dict)  # group -> why each unpriced run or attempt is
    first_day: dict[str, date] = field(default_factory=dict)  # group -> its first day of data in the window
    estimated: set[str] = field(default_factory=set)  # groups whose cost is a local run's estimate

    def total(self, group: str | None = None) -> float:
        groups = [group] if group else list(self.costs)
        return sum(sum(self.costs[g].values()) for g in groups)

    def days_of(self, group: str) -> int:
        """Days of the window since the group's first materialization (all of them if it is older)."""
        first = self.first_day.get(group, self.days[0])
        return max(1, sum(1 for day in self.days if day >= first))

    def per_day(self, group: str) -> float:
        return self.total(group) / self.days_of(group)

    def unpriced_count(self) -> int:
        return sum(len(v) for v in self.unpriced.values())

    def warning(self) -> str | None:
        """One line naming what could not be priced, or None."""
        count = self.unpriced_count()
        if not count:
            return None
        attempts = sum(self.attempts.values()) + count
        first = next(f"{g}: {why[0]}" for g, why in self.unpriced.items() if why)
        return f"warning: {count} of {attempts} step attempts could not be priced and are left out of the totals ({first})"

    def day_total(self, day: date) -> float:
        return sum(days.get(day, 0.0) for days in self.costs.values())


def day_of(record) -> date:
    """The day of data an attempt or materialization produced: its daily partition, else the UTC day it ran."""
    if record.partition:
        try:
            return date.fromisoformat(record.partition[:10])
        except ValueError:
            pass
    return datetime.fromtimestamp(record.timestamp, timezone.utc).date()


def cost_report(
    instance: dg.DagsterInstance,
    declared: Mapping[dg.AssetKey, MLAsset],
    days: int = 7,
    by: str = BY_TABLE,
    now: datetime | None = None,
) -> CostReport:
    """Cost of the last ``days`` days (today included), grouped by table or by product."""
    if days < 1:
        raise ValueError(f"cost report: days must be at least 1, got {days}")
    if by not in (BY_TABLE, BY_PRODUCT):
        raise ValueError(f"cost report: by must be '{BY_TABLE}' or '{BY_PRODUCT}', got '{by}'")
    sheet = load_price_sheet()  # a bad sheet fails here, naming the field, not in a step
    end = now or datetime.now(timezone.utc)
    window = [end.date() - timedelta(days=i) for i in range(days - 1, -1, -1)]
    start = datetime.combine(window[0], datetime.min.time(), timezone.utc)
    products = {key.to_user_string(): decl.product for key, decl in declared.items()}
    report = CostReport(start=start, end=end, by=by, price_sheet=sheet.source, days=window)

    def counted(record) -> tuple[str, date] | None:
        day = day_of(record)
        if not window[0] <= day <= window[-1] + timedelta(days=1):
            return None  # a rerun of an older partition, or a day after the report's end
        if day not in report.days:
            report.days.append(day)  # today's run of tomorrow's partition (a time zone ahead of UTC)
        group = record.asset if by == BY_TABLE else products.get(record.asset, UNDECLARED)
        report.first_day[group] = min(day, report.first_day.get(group, day))
        return group, day

    paid_runs = set()
    for attempt in instance_reads.attempts_after(instance, start.timestamp()):
        if attempt.cost_usd is None and attempt.cost_error is None:
            continue  # no compute profile: nothing to price
        place = counted(attempt)
        if place is None:
            continue
        group, day = place
        paid_runs.add((attempt.run_id, attempt.asset, attempt.partition))
        if attempt.cost_usd is None:
            report.unpriced.setdefault(group, []).append(f"{attempt.outcome} attempt of {attempt.asset}: {attempt.cost_error}")
            continue
        report.costs.setdefault(group, {})
        report.costs[group][day] = report.costs[group].get(day, 0.0) + attempt.cost_usd
        report.attempts[group] = report.attempts.get(group, 0) + 1
        if attempt.estimate:
            report.estimated.add(group)
    for materialization in instance_reads.materialization_keys_after(instance, start.timestamp()):
        if materialization.asset not in products:
            continue  # the platform's own report assets
        place = counted(materialization)
        if place is None:
            continue
        group = place[0]
        report.runs[group] = report.runs.get(group, 0) + 1
        if (materialization.run_id, materialization.asset, materialization.partition) not in paid_runs:
            report.unpriced.setdefault(group, []).append(
                f"run {materialization.run_id[:8]} of {materialization.asset} recorded no step cost"
            )
    for group in (products if by == BY_TABLE else set(products.values())):
        report.costs.setdefault(group, {})  # a declared table that never ran shows as 0
        report.runs.setdefault(group, 0)
    for group in report.costs:
        report.attempts.setdefault(group, 0)
        report.runs.setdefault(group, 0)
    _first_days_before_window(instance, report, declared, by)
    report.costs = dict(sorted(report.costs.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])))
    return report


def _first_days_before_window(instance: dg.DagsterInstance, report: CostReport, declared: Mapping[dg.AssetKey, MLAsset], by: str) -> None:
    """A group whose first day in the window is not the window's first: does it have older
    materializations (then every day counts)? One query per such table, usually none."""
    for key, declaration in declared.items():
        group = key.to_user_string() if by == BY_TABLE else declaration.product
        if report.first_day.get(group, report.days[0]) > report.days[0] and instance_reads.materialized_before(
            instance, key, report.start.timestamp()
        ):
            report.first_day[group] = report.days[0]


def usd(value: float) -> str:
    return f"${value:,.6f}" if abs(value) < 1 else f"${value:,.2f}"


def _note(report: CostReport, group: str) -> str:
    notes = [f"{len(report.unpriced[group])} unpriced"] if report.unpriced.get(group) else []
    if group in report.estimated:
        notes.append("estimate")
    if report.days_of(group) < len(report.days):
        notes.append(f"since {report.first_day[group]}")
    return ", ".join(notes)


def render_text(report: CostReport) -> str:
    span = f"{report.days[0]} .. {report.days[-1]}"
    width = max([len(report.by), *(len(g) for g in report.costs)])
    lines = [
        f"Cost by {report.by}, {span} ({len(report.days)} days, USD; price sheet {report.price_sheet})",
        f"{report.by.ljust(width)}  {'runs':>5}  {'attempts':>8}  {'total':>12}  {'per day':>12}  {'share':>6}  note",
    ]
    total = report.total()
    for group in report.costs:
        share = f"{report.total(group) / total:.0%}" if total else "-"
        lines.append(
            f"{group.ljust(width)}  {report.runs[group]:>5}  {report.attempts[group]:>8}  {usd(report.total(group)):>12}"
            f"  {usd(report.per_day(group)):>12}  {share:>6}  {_note(report, group)}".rstrip()
        )
    lines.append(f"{'total'.ljust(width)}  {sum(report.runs.values()):>5}  {sum(report.attempts.values()):>8}  {usd(total):>12}"
                 f"  {usd(total / len(report.days)):>12}")
    if report.estimated:
        lines.append("estimate: ran as local processes, priced as the declared backend would charge")
    if report.warning():
        lines.append(report.warning())
    lines += ["", "per day:"]
    lines += [f"  {day}  {usd(report.day_total(day)):>12}" for day in report.days]
    return "\n".join(lines)


def render_markdown(report: CostReport) -> str:
    lines = [
        f"Cost by {report.by} over {report.days[0]} .. {report.days[-1]} (USD; price sheet `{report.price_sheet}`)",
        "",
        f"| {report.by} | runs | attempts | total | per day | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {g} | {report.runs[g]} | {report.attempts[g]} | {usd(report.total(g))} | {usd(report.per_day(g))} | {_note(report, g)} |"
              for g in report.costs]
    lines.append(f"| **total** | {sum(report.runs.values())} | {sum(report.attempts.values())} | {usd(report.total())}"
                 f" | {usd(report.total() / len(report.days))} | |")
    if report.estimated:
        lines += ["", "*estimate*: ran as local processes, priced as the declared backend would charge."]
    if report.warning():
        lines += ["", f"**{report.warning()}**"]
    return "\n".join(lines)


def plot(report: CostReport, path: Path) -> Path:
    """Stacked bars: cost per day, one colour per table (or product)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(6, 0.45 * len(report.days) + 4), 3.6))
    bottom = [0.0] * len(report.days)
    positions = range(len(report.days))
    for group, days in report.costs.items():
        values = [days.get(day, 0.0) for day in report.days]
        if any(values):
            axes.bar(positions, values, bottom=bottom, label=group, width=0.7)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(report.days) // 15)
    axes.set_xticks(list(positions)[::step], [d.strftime("%m-%d") for d in report.days[::step]], fontsize=7, rotation=45)
    axes.set_ylabel("USD", fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title(f"Cost per day by {report.by} (total {usd(report.total())})", fontsize=9)
    if any(bottom):
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


REPORT_ASSET = "cost_report"
REPORT_DAYS = 7


def build_cost_report(catalog: Catalog) -> dg.AssetsDefinition:
    """The cost report asset of a code location assembled from ``catalog`` (its declarations, read once)."""

    def materialize(context: dg.AssetExecutionContext, declared: Mapping[dg.AssetKey, MLAsset]) -> dg.MaterializeResult:
        report = cost_report(context.instance, declared, days=REPORT_DAYS)
        path = plot(report, report_directory(context) / "cost_report.png")
        return dg.MaterializeResult(
            metadata={
                "cost": dg.MetadataValue.md(render_markdown(report)),
                "plot": embedded_plots([path], "cost per day"),
                "plot file": dg.MetadataValue.path(str(path)),
                "total USD": round(report.total(), 6),
                "unpriced": report.unpriced_count(),
                "USD per day": round(report.total() / len(report.days), 6),
            }
        )

    description = f"Cost of every declared table over the last {REPORT_DAYS} days (table + PNG of cost per day)."
    return report_asset(REPORT_ASSET, description, catalog, materialize)
