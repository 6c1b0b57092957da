"""Data-driven launch of the tables that read another product's tables.

A product's clock schedule cannot know when another product's table for the same date is
ready: both product schedules may fire at 04:00, and the consumer would read a partition a
concurrent run is still writing. So, derived from the declarations at assembly, every
daily-partitioned declared asset that reads a table of another product (or a table of its own
product that is itself launched this way) gets ``launch_on_inputs()`` as its Dagster
``AutomationCondition`` and leaves its product's schedule. One automation sensor per product
(``cross_product_launch_<product>``, running by default) evaluates it; its runs carry the
product tag (one run per product at a time, ``deploy/dagster.yaml``) and ``dagster/max_runtime``.
A partition of the consumer is requested:

* once per trigger: today's partition appeared (a new day, or the first evaluation: older
  missing partitions never), or an input partition of that date was updated by a run that did
  not also materialize the consumer — any date, so a producer that lands days late, a fix, or a
  backfill of past dates re-launches the dates it touched (a retrained model re-launches only
  today's). A request or a materialization by any other path resets the trigger, so a failed
  run is not retried in a loop;
* once more when an input of its date was updated while the consumer's own run was in
  progress: that run read the old input;
* on the days its deadline cron names only (a Monday deadline: Monday's partition);
* only when every input partition of that date exists, none is being written, and no blocking
  check on them holds it: every one passed, or failed with WARN only (``checks.holds``, the rule
  the IO managers' gate applies); a check still running has not passed;
* never while the table itself is in a run or a backfill.

Waiting is an evaluation that requests nothing: no run, no pod, no failure. Unpartitioned
assets (models) keep their product's schedule: they read history, not one date.

Two conditions are Python (``WarnedOnly``, ``OnDeadlineDays``): Dagster's operands know neither a
check's severity nor a partition's weekday. Such conditions are evaluated in the code server
(``use_user_code_server=True``, at most 500 assets per sensor), not in the daemon process.

A read across time zones (a UTC table reading an Asia/Tokyo one) must declare its partition
mapping: Dagster's default daily mapping refuses to cross zones at evaluation time, so without
one the code location fails to load with a ``DeclarationError`` naming both tables and zones.
``dg.IdentityPartitionMapping()`` reads the producer's partition of the same date.
"""

import warnings
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import dagster as dg

from ml_platform import cron
from ml_platform._dagster_internal import PartitionKeyFilter
from ml_platform.compute.run_limits import declared_run_limit_tags
from ml_platform.declaration import PRODUCT_TAG, Catalog, DeclarationError, MLAsset

SENSOR_NAME = "cross_product_launch"  # each product's sensor: cross_product_launch_<product>


def launch_sensor_name(product: str | None) -> str:
    return f"{SENSOR_NAME}_{product}" if product else SENSOR_NAME


class WarnedOnly(dg.AutomationCondition):
    """Check partitions whose latest result failed with WARN severity: it holds no consumer.

    Evaluated after ``check_failed()``, so it reads the latest result of failed partitions only
    (one storage call per failed partition: rare)."""

    @property
    def name(self) -> str:
        return "failed_with_warn_only"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        candidate = context.candidate_subset
        if candidate.is_empty:
            return dg.AutomationResult(context=context, true_subset=candidate)
        instance = context.asset_graph_view.instance  # no public accessor in a custom condition
        if not candidate.is_partitioned:
            warned = _warned(instance, context.key, None)
            return dg.AutomationResult(context=context, true_subset=candidate if warned else context.get_empty_subset())
        keys = {p for p in candidate.expensively_compute_partition_keys() if _warned(instance, context.key, p)}
        return dg.AutomationResult(context=context, true_subset=candidate.compute_intersection_with_partition_keys(keys))


def _warned(instance: dg.DagsterInstance, key: dg.AssetCheckKey, partition: str | None) -> bool:
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [key], partition_filter=PartitionKeyFilter(key=partition) if partition is not None else None
    ).get(key)
    evaluation = record.evaluation if record is not None else None
    return isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN


class OnDeadlineDays(dg.AutomationCondition):
    """Partitions of the dates on which the table's deadline cron has a tick (in its time zone)."""

    def __init__(self, deadline_cron: str, timezone: str):
        self.deadline_cron, self.timezone = deadline_cron, timezone

    @property
    def name(self) -> str:
        return f"on_deadline_days({self.deadline_cron}, {self.timezone})"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        candidate = context.candidate_subset
        if candidate.is_empty or not candidate.is_partitioned:
            return dg.AutomationResult(context=context, true_subset=candidate)
        keys = {p for p in candidate.expensively_compute_partition_keys() if self.is_deadline_day(p)}
        return dg.AutomationResult(context=context, true_subset=candidate.compute_intersection_with_partition_keys(keys))

    def is_deadline_day(self, partition: str) -> bool:
        return _is_deadline_day(self.deadline_cron, self.timezone, partition)


@lru_cache(maxsize=4096)
def _is_deadline_day(deadline_cron: str, timezone: str, day: str) -> bool:
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(timezone))
    return cron.next_tick(deadline_cron, start, timezone) < start + timedelta(days=1)


class LaunchOnInputs(dg.AutomationCondition):
    """The launch condition under a root of the platform's own class.

    It holds custom conditions (``WarnedOnly``, ``OnDeadlineDays``) that Dagster's webserver and
    daemon, which run Dagster's image without this package, cannot deserialize. Dagster sends the
    UI only a snapshot of a condition whose tree is not all serializable, but its check misses the
    conditions under ``all_checks_match``: the code location then failed to load in the webserver
    ("Unhandled value type WarnedOnly"). A root Dagster does not know makes it send the snapshot."""

    def __init__(self, operand: dg.AutomationCondition):
        self.operand = operand

    @property
    def name(self) -> str:
        return "launch_on_inputs"

    def get_label(self) -> str:
        return self.name

    @property
    def children(self) -> list[dg.AutomationCondition]:
        return [self.operand]

    @property
    def requires_cursor(self) -> bool:
        return False  # its children keep theirs

    async def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        result = await context.for_child_condition(
            child_condition=self.operand, child_indices=[0], candidate_subset=context.candidate_subset
        ).evaluate_async()
        return dg.AutomationResult(context, result.true_subset, child_results=[result])


def inputs_not_held() -> dg.AutomationCondition:
    """Every blocking check of every input partition passed, or failed with WARN only."""
    ac = dg.AutomationCondition
    passed_or_warned = ac.check_passed() | ac.will_be_requested() | (ac.check_failed() & WarnedOnly())
    return ac.all_deps_match(
        ac.all_checks_match(passed_or_warned, blocking_only=True).with_label("all_blocking_checks_passed_or_warn_only")
    ).with_label("no_input_held_by_an_error_check")


def launch_on_inputs(unpartitioned: Iterable[dg.AssetKey] = (), deadline_days: OnDeadlineDays | None = None) -> dg.AutomationCondition:
    """``unpartitioned``: assets (models) whose update re-launches only today's partition;
    ``deadline_days``: for a table whose deadline is not daily, the days it runs on."""
    ac = dg.AutomationCondition
    # Partitions end one day ahead (declaration.PARTITIONS_START): the latest window is today's.
    today = ac.in_latest_time_window()
    # newly_missing is true for every missing partition at the first evaluation: only today's counts.
    # newly_updated is empty at the first evaluation, so inputs landed before trigger nothing.
    # any_deps_updated leaves out updates by a run that also materialized this table.
    dated_input_updated = ac.any_deps_updated().ignore(dg.AssetSelection.assets(*unpartitioned))
    new_work = ((today & (ac.newly_missing() | ac.any_deps_updated())) | dated_input_updated).since(
        ac.newly_requested() | ac.newly_updated()
    ).with_label("today's partition appeared or an input of its date updated, since last requested or updated")
    # The tick after a request also sees the inputs updated since: a reset in the same tick as an
    # input update does not count (composite conditions carry no timing to order the two).
    read_old_input = (dated_input_updated & ac.run_in_progress()).since(ac.newly_requested() & ~dated_input_updated).with_label(
        "an input of its date updated while its run was in progress, since last requested"
    )
    wanted = new_work | read_old_input
    if deadline_days is not None:
        wanted = wanted & deadline_days
    return LaunchOnInputs(
        wanted
        & ~ac.any_deps_missing()
        & ~ac.any_deps_in_progress()
        & inputs_not_held()
        & ~ac.in_progress()
    )


def data_launched(assets: Iterable[dg.AssetsDefinition], declared: Catalog) -> set[dg.AssetKey]:
    """Declared daily assets with an upstream in another product, or an upstream launched on data."""
    assets = list(assets)
    parents = {spec.key: {dep.asset_key for dep in spec.deps} for a in assets for spec in a.specs if spec.key in declared}
    launched: set[dg.AssetKey] = set()
    changed = True
    while changed:  # a fixed point: a chain inside one product behind a cross-product read
        changed = False
        for key, declaration in declared.items():
            if key not in launched and _reads_elsewhere(declaration, parents[key], declared, launched):
                launched.add(key)
                changed = True
    return launched


def _reads_elsewhere(declaration: MLAsset, parents, declared: Catalog, launched: set) -> bool:
    if not declaration.partition_column:
        return False
    return any(p in launched or (p in declared and declared[p].product != declaration.product) for p in parents)


def check_cross_zone_reads(assets: Iterable[dg.AssetsDefinition], declared: Catalog) -> None:
    """Refuse, at load, a daily read across time zones that relies on Dagster's default mapping."""
    assets = list(assets)
    for spec in (s for a in assets for s in a.specs if s.key in declared):
        reader = declared[spec.key]
        for dep in spec.deps:
            source = declared.get(dep.asset_key)
            if not (reader.partition_column and source and source.partition_column) or source.slo.timezone == reader.slo.timezone:
                continue
            if dep.partition_mapping is None or isinstance(dep.partition_mapping, dg.TimeWindowPartitionMapping):
                name = dep.asset_key.to_user_string()
                raise DeclarationError(
                    f"{reader.LABEL} '{reader.name}': field 'deps': reads {source.LABEL} '{name}' ({source.slo.timezone}) "
                    f"from {reader.slo.timezone}: daily partitions of two time zones have no default mapping. Declare one, e.g. "
                    f"dg.AssetDep('{name}', partition_mapping=dg.IdentityPartitionMapping()) (or an AssetIn with it) to read "
                    f"the partition of the same date, or declare both tables in one time zone"
                )


def with_launch_conditions(assets: Iterable[dg.AssetsDefinition], declared: Catalog) -> list[dg.AssetsDefinition]:
    """The same assets; those launched on data carry ``launch_on_inputs()``. Refuses a read
    across time zones without a declared partition mapping. ``declared``: the assets' catalog."""
    assets = list(assets)
    check_cross_zone_reads(assets, declared)
    launched = data_launched(assets, declared)
    if not launched:
        return assets
    unpartitioned = [key for key, d in declared.items() if not d.partition_column]
    conditions: dict[tuple[str, str] | None, dg.AutomationCondition] = {}  # one shared object per kind of deadline

    def condition(declaration: MLAsset) -> dg.AutomationCondition:
        days = None if declaration.slo.is_daily else (declaration.slo.deadline_cron, declaration.slo.timezone)
        if days not in conditions:
            conditions[days] = launch_on_inputs(unpartitioned, OnDeadlineDays(*days) if days else None)
        return conditions[days]

    def _apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        return spec.replace_attributes(automation_condition=condition(declared[spec.key])) if spec.key in launched else spec

    return [a.map_asset_specs(_apply) if any(k in launched for k in a.keys) else a for a in assets]


def launched_keys(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """Assets that carry an automation condition (the platform's or an author's own)."""
    return [spec.key for a in assets for spec in a.specs if spec.automation_condition is not None]


def cross_product_launch_sensor(assets: Iterable[dg.AssetsDefinition], declared: Catalog) -> list[dg.AutomationConditionSensorDefinition]:
    """One sensor per product that has tables with an automation condition, running by default.

    Per product, so that one product's failing evaluation never stops another's launches, and so
    that its runs carry the product's tag and run time limit (the longest chain of its tables'
    profile limits, ``compute.run_limits``). Assets of no declared product share one sensor."""
    assets = list(assets)
    deps = {spec.key: [dep.asset_key for dep in spec.deps] for a in assets for spec in a.specs}
    by_product: dict[str | None, list[dg.AssetKey]] = defaultdict(list)
    for key in launched_keys(assets):
        by_product[declared[key].product if key in declared else None].append(key)
    sensors = []
    for product, keys in sorted(by_product.items(), key=lambda item: item[0] or ""):
        tags = {PRODUCT_TAG: product, **declared_run_limit_tags({k: declared[k] for k in keys if k in declared}, deps)} if product else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # use_user_code_server: Python conditions
            sensors.append(
                dg.AutomationConditionSensorDefinition(
                    launch_sensor_name(product),
                    target=dg.AssetSelection.assets(*keys),
                    run_tags=tags,
                    use_user_code_server=True,
                    emit_backfills=False,  # one run per partition: each carries the tags and queues per product
                    default_status=dg.DefaultSensorStatus.RUNNING,
                    minimum_interval_seconds=30,
                    description=f"Launches each table of {product or 'no product'} that reads another product's table when "
                    "all its inputs for that date are materialized and no ERROR check holds them.",
                )
            )
    return sensors
