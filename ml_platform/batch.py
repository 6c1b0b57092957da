"""Run products for given partitions on the local instance, the way their schedules would.

Used by the ``ml-platform run`` and ``ml-platform backfill`` commands: each (product, day) is
one Dagster run recorded in the local instance, so the UI shows it like a scheduled run.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from graphlib import TopologicalSorter
from zoneinfo import ZoneInfo

import dagster as dg

from ml_platform import cron
from ml_platform.declaration import PRODUCT_TAG, MLAsset, declarations

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class AssetOutcome:
    asset: str
    product: str
    partition: str
    rows: int | None
    seconds: float | None
    deadline: datetime
    status: str


def products_in_dependency_order(defs: dg.Definitions) -> list[str]:
    """Products ordered so that a product runs after the products whose tables it reads."""
    graph = defs.resolve_asset_graph()
    declared = declarations(graph)
    order: TopologicalSorter = TopologicalSorter()
    for key, declaration in declared.items():
        order.add(declaration.product)
        for parent in graph.get(key).parent_keys:
            if parent in declared and declared[parent].product != declaration.product:
                order.add(declaration.product, declared[parent].product)
    return list(order.static_order())


def product_today(defs: dg.Definitions, product: str, now: datetime) -> date:
    """Today's date in the product's SLO time zone: the partition its consumers read today."""
    timezone = next(d.slo.timezone for d in declarations(defs.resolve_asset_graph()).values() if d.product == product)
    return now.astimezone(ZoneInfo(timezone)).date()


def deadline_for(declaration: MLAsset, day: date) -> datetime:
    """The deadline by which ``day``'s partition (or, unpartitioned, the next refresh) is due."""
    start_of_day = datetime.combine(day, datetime.min.time(), ZoneInfo(declaration.slo.timezone))
    return cron.next_tick(declaration.slo.deadline_cron, start_of_day, declaration.slo.timezone)


def run_product(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    product: str,
    day: date,
    include_unpartitioned: bool = True,
    tags: dict[str, str] | None = None,
) -> list[AssetOutcome]:
    """Materialize one product's partition for ``day`` as a single run; never raises on failure."""
    graph = defs.resolve_asset_graph()
    members = {k: d for k, d in declarations(graph).items() if d.product == product}
    selected = [k for k in graph.toposorted_asset_keys if k in members and (include_unpartitioned or members[k].partition_column)]
    partition = day.isoformat()
    # The code location's own assets and checks, as the product schedule would run them
    # (in process: the local executor's per-step processes add nothing for a summary run).
    job = dg.define_asset_job(f"{product}_batch", selection=dg.AssetSelection.assets(*selected))
    result = (
        dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        .resolve_job_def(job.name)
        .execute_in_process(
            partition_key=partition,
            instance=instance,
            run_config=QUIET_RUN_CONFIG,
            tags={PRODUCT_TAG: product, **(tags or {})},
            raise_on_error=False,
        )
    )
    rows = {}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        count = metadata.get("dagster/partition_row_count") or metadata.get("dagster/row_count")
        rows[event.materialization.asset_key] = count.value if count is not None else None
    failed_checks = defaultdict(list)
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            failed_checks[evaluation.asset_key].append(f"{evaluation.severity.value} {evaluation.check_name}")
    failed_steps = {event.step_key for event in result.get_step_failure_events()}
    durations = {
        s.step_key: (s.end_time - s.start_time) if s.end_time and s.start_time else None
        for s in instance.get_run_step_stats(result.run_id)
    }
    outcomes = []
    for key in selected:
        declaration = members[key]
        step = graph.get(key).assets_def.node_def.name
        deadline = deadline_for(declaration, day)
        if key not in rows:
            status = "FAILED" if step in failed_steps else "skipped: upstream check failed"
        elif failed_checks[key]:
            status = "checks: " + ", ".join(failed_checks[key])
        elif declaration.partition_column and datetime.now(deadline.tzinfo) > deadline:
            status = "ok (after deadline)"
        else:
            status = "ok"
        outcomes.append(
            AssetOutcome(
                asset=key.to_user_string(),
                product=product,
                partition=partition if declaration.partition_column else "-",
                rows=rows.get(key),
                seconds=durations.get(step),
                deadline=deadline,
                status=status,
            )
        )
    return outcomes


def run_days(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    days: list[date] | None,
    products: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> list[AssetOutcome]:
    """Every product (dependency order) for each day; ``days=None`` means each product's today.

    Over several days, models are trained with the first day only (they are not partitioned).
    """
    outcomes = []
    order = [p for p in products_in_dependency_order(defs) if not products or p in products]
    unknown = set(products or []) - set(order)
    if unknown:
        raise ValueError(f"unknown product(s) {sorted(unknown)} (known: {', '.join(order)})")
    for index, day in enumerate(days or [None]):
        for product in order:
            run_day = day or product_today(defs, product, datetime.now().astimezone())
            outcomes += run_product(defs, instance, product, run_day, include_unpartitioned=index == 0, tags=tags)
    return outcomes


def date_range(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"backfill range is empty: end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def format_outcomes(outcomes: list[AssetOutcome]) -> str:
    header = ("asset", "partition", "rows", "seconds", "SLO deadline", "status")
    lines = [
        (
            o.asset,
            o.partition,
            "-" if o.rows is None else f"{o.rows:,}",
            "-" if o.seconds is None else f"{o.seconds:.2f}",
            o.deadline.strftime("%Y-%m-%d %H:%M %Z"),
            o.status,
        )
        for o in outcomes
    ]
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*row) for row in lines)])
