"""One schedule per product, timed from its tables' SLO deadlines.

The schedule fires ``start_before`` ahead of the product's earliest deadline among the tables
that need its run, and requests the partition of that day. Each tick selects the product's
assets whose next deadline falls within the coming day, so a weekly model is retrained only on
the tick before its weekly deadline, in the same run as (and upstream of) the daily predictions.

Assets with an automation condition (the platform gives one to every table that reads another
product's table, see ``cross_product_launch``) are launched by it, not by the clock: a product's
schedule targets only the rest. Its time still comes from the product's own deadlines: those of
the tables it materializes, and those of the product's tables launched on data that read one of
them (directly or through the product's other tables launched on data) — so a table moving to
launch on data never moves the run it needs past its deadline. A product left with only a model
keeps a daily schedule that requests the model on the day before its deadline (and skips other
days); a product launched entirely on data has no schedule.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from ml_platform import cron
from ml_platform.compute.run_limits import declared_run_limit_tags
from ml_platform.declaration import PRODUCT_TAG, Catalog, DeclarationError, MLAsset
from ml_platform.schedules.cross_product_launch import launched_keys

HORIZON = timedelta(days=1)


def build_product_schedules(assets: list[dg.AssetsDefinition], declared: Catalog) -> list[dg.ScheduleDefinition]:
    """One schedule per product of the catalog ``declared`` (of ``assets``), for its tables not launched on data."""
    on_data = set(launched_keys(assets))
    by_product: dict[str, dict[dg.AssetKey, MLAsset]] = defaultdict(dict)
    for key, declaration in declared.items():
        if key not in on_data:
            by_product[declaration.product][key] = declaration
    deps = {spec.key: [dep.asset_key for dep in spec.deps] for a in assets for spec in a.specs}
    schedules = []
    for product, members in sorted(by_product.items()):
        same_product = {k: d for k, d in declared.items() if k in on_data and d.product == product}
        needing = [d for k, d in same_product.items() if _needs_run(k, members, same_product, deps)]
        schedules.append(_product_schedule(product, members, needing, deps))
    return schedules


def _needs_run(key: dg.AssetKey, members, launched: dict, deps, seen: frozenset = frozenset()) -> bool:
    """Does this table launched on data read (maybe through the product's other such tables) one the schedule materializes?"""
    return any(
        parent in members or (parent in launched and parent not in seen and _needs_run(parent, members, launched, deps, seen | {key}))
        for parent in deps.get(key, ())
    )


def schedule_start(declaration: MLAsset) -> tuple[int, int]:
    """(hour, minute) at which a daily deadline's run must start."""
    minute, hour = (int(v) for v in declaration.slo.deadline_cron.split()[:2])
    start = timedelta(hours=hour, minutes=minute) - declaration.slo.start_before
    if start < timedelta(0):
        raise DeclarationError(
            f"{declaration.LABEL} '{declaration.name}': field 'slo.start_before': the run would start the day"
            f" before its {hour:02d}:{minute:02d} deadline; deadlines must leave {declaration.slo.start_before} on the same day"
        )
    return int(start.total_seconds() // 3600), int(start.total_seconds() % 3600 // 60)


def _timed(declaration: MLAsset) -> bool:
    """A deadline at a fixed time of day ('M H ...'), which a daily start time can come from."""
    minute, hour = declaration.slo.deadline_cron.split()[:2]
    return minute.isdigit() and hour.isdigit()


def _product_schedule(
    product: str, members: dict[dg.AssetKey, MLAsset], needing: list[MLAsset], deps: dict[dg.AssetKey, list[dg.AssetKey]]
) -> dg.ScheduleDefinition:
    timezones = {d.slo.timezone for d in [*members.values(), *needing]}
    if len(timezones) > 1:
        raise DeclarationError(f"product '{product}': its assets use several SLO time zones {sorted(timezones)}; use one")
    timezone = timezones.pop()
    daily = [d for d in members.values() if d.slo.is_daily and d.partition_column]
    candidates = [d for d in [*daily, *needing] if _timed(d)] or [d for d in members.values() if _timed(d)]
    if not candidates:
        names = ", ".join(sorted(d.name for d in members.values()))
        raise DeclarationError(
            f"product '{product}': cannot time its schedule: none of {names} (nor a table of the product launched on data that"
            " reads them) has a deadline at a fixed time of day; give one a deadline such as '0 6 * * 1'"
        )
    hour, minute = min(schedule_start(d) for d in candidates)

    @dg.schedule(
        name=f"{product}_schedule",
        cron_schedule=f"{minute} {hour} * * *",
        execution_timezone=timezone,
        target=dg.AssetSelection.assets(*members),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Materializes {product} before its SLO deadlines ({timezone}).",
        tags={PRODUCT_TAG: product},
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time
        due = [key for key, d in members.items() if _next_deadline(d, now) <= now + HORIZON]
        if not due:
            return dg.SkipReason(f"no {product} table is due within {HORIZON}")
        partitioned = any(members[key].partition_column for key in due)
        partition = now.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d") if partitioned else None  # starts are on the deadline's day
        graph = context.repository_def.asset_graph
        return dg.RunRequest(
            run_key=f"{product}:{partition or now.isoformat()}",
            partition_key=partition,
            asset_selection=due,
            # Named, not implied: the UI re-executes a check step of the run only from an explicit list.
            asset_check_keys=sorted((check for key in due for check in graph.get(key).check_keys), key=str),
            tags=declared_run_limit_tags({key: members[key] for key in due}, deps),
        )

    return _schedule


def _next_deadline(declaration: MLAsset, now: datetime) -> datetime:
    return cron.next_tick(declaration.slo.deadline_cron, now, declaration.slo.timezone)
