"""One schedule per product, timed from its tables' SLO deadlines.

The schedule fires ``start_before`` ahead of the product's earliest daily deadline and
requests the partition of that deadline's date. Each tick selects the product's assets whose
next deadline falls within the coming day, so a weekly model is retrained only on the tick
before its weekly deadline, in the same run as (and upstream of) the daily predictions.

Assets with an automation condition (the platform gives one to every table that reads another
product's table, see ``cross_product_launch``) are launched by it, not by the clock: a product's
schedule targets only the rest, and a product launched entirely on data has no schedule.
"""

from collections import defaultdict
from datetime import datetime, timedelta

import dagster as dg

from ml_platform import cron
from ml_platform.compute.run_limits import run_limit_tags
from ml_platform.declaration import PRODUCT_TAG, DeclarationError, MLAsset, declared_specs
from ml_platform.schedules.cross_product_launch import launched_keys

HORIZON = timedelta(days=1)


def build_product_schedules(assets: list[dg.AssetsDefinition]) -> list[dg.ScheduleDefinition]:
    on_data = set(launched_keys(assets))
    by_product: dict[str, dict[dg.AssetKey, MLAsset]] = defaultdict(dict)
    for key, declaration in declared_specs(assets).items():
        if key not in on_data:
            by_product[declaration.product][key] = declaration
    deps = {spec.key: [dep.asset_key for dep in spec.deps] for a in assets for spec in a.specs}
    return [_product_schedule(product, members, deps) for product, members in sorted(by_product.items())]


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


def _product_schedule(
    product: str, members: dict[dg.AssetKey, MLAsset], deps: dict[dg.AssetKey, list[dg.AssetKey]]
) -> dg.ScheduleDefinition:
    timezones = {d.slo.timezone for d in members.values()}
    if len(timezones) > 1:
        raise DeclarationError(f"product '{product}': its assets use several SLO time zones {sorted(timezones)}; use one")
    timezone = timezones.pop()
    daily = {key: d for key, d in members.items() if d.slo.is_daily and d.partition_column}
    if not daily:
        raise DeclarationError(f"product '{product}': no daily-partitioned asset with a daily 'M H * * *' deadline to schedule from")
    first = min(daily.values(), key=schedule_start)
    hour, minute = schedule_start(first)
    first_deadline = first.slo.deadline_cron

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
        partition = cron.next_tick(first_deadline, now, timezone).strftime("%Y-%m-%d")
        due = [key for key, d in members.items() if _next_deadline(d, now) <= now + HORIZON]
        graph = context.repository_def.asset_graph
        return dg.RunRequest(
            run_key=f"{product}:{partition}",
            partition_key=partition,
            asset_selection=due,
            # Named, not implied: the UI re-executes a check step of the run only from an explicit list.
            asset_check_keys=sorted((check for key in due for check in graph.get(key).check_keys), key=str),
            tags=run_limit_tags({key: members[key].compute for key in due}, deps),
        )

    return _schedule


def _next_deadline(declaration: MLAsset, now: datetime) -> datetime:
    return cron.next_tick(declaration.slo.deadline_cron, now, declaration.slo.timezone)
