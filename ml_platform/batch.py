"""Run products for given days on the local instance, the way their schedules and the UI would.

Used by ``ml-platform run`` and ``ml-platform backfill``. A product's tables for a day — or for a
range of days, when each of them has a ``BackfillPolicy`` allowing one run over several
partitions — are one Dagster run (``batch_launch``); products run in dependency order. Before any
run starts, every input the batch reads from outside itself must be materialized (else
``InputsMissing`` names each one); each run's inputs are checked again just before it starts, so a
day whose upstream failed earlier in the batch is skipped with the reason instead of retrying a
step that cannot succeed. What each run did is read back from Dagster's records (``batch_outcomes``).
"""

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from graphlib import TopologicalSorter
from zoneinfo import ZoneInfo

import dagster as dg

from ml_platform.batch_launch import (
    BACKFILL_TAG,
    RunOrigin,
    close_backfill,
    create_run,
    ctrl_c_watch,
    execute_in_process,
    open_backfill,
    partition_tags,
    retry_line,
)
from ml_platform.batch_outcomes import AssetOutcome, format_outcomes, read_outcomes, skipped
from ml_platform.compute.run_limits import MAX_RUNTIME_TAG, declared_run_limit_tags
from ml_platform.declaration import INTERRUPTED_TAG, PRODUCT_TAG, MLAsset, declarations

__all__ = ["AssetOutcome", "format_outcomes", "run_days"]


class InputsMissing(ValueError):
    """Inputs from outside the batch that are not materialized; ``lines`` names each, with its dates."""

    def __init__(self, lines: list[str]):
        super().__init__("; ".join(lines))
        self.lines = lines


class BatchInterrupted(Exception):
    """The batch stopped before its end; ``outcomes`` holds what had been done."""

    def __init__(self, outcomes: list[AssetOutcome], error: BaseException):
        super().__init__(str(error))
        self.outcomes, self.error = outcomes, error


@dataclass(frozen=True)
class PlannedRun:
    product: str
    partitions: tuple[str, ...]  # one day, or consecutive days run as one range
    assets: tuple[dg.AssetKey, ...]  # toposorted

    @property
    def label(self) -> str:
        days = self.partitions[0] if len(self.partitions) == 1 else f"{self.partitions[0]}...{self.partitions[-1]}"
        return f"{self.product} {days}"


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


def product_today(declared: dict[dg.AssetKey, MLAsset], product: str, now: datetime) -> date:
    """Today's date in the product's SLO time zone: the partition its consumers read today."""
    timezone = next(d.slo.timezone for d in declared.values() if d.product == product)
    return now.astimezone(ZoneInfo(timezone)).date()


def date_range(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"backfill range is empty: end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def plan(
    defs: dg.Definitions,
    days: list[date] | None,
    products: list[str] | None = None,
    with_upstream: bool = False,
    now: datetime | None = None,
) -> list[PlannedRun]:
    """The runs of a batch, in order: per product (dependency order), its days in runs as its tables'
    backfill policies allow. ``days=None`` means each product's today. Unpartitioned tables (models)
    run once, in their product's first run. ``with_upstream`` adds every declared table the selected
    ones read, directly or not, for the same days."""
    graph = defs.resolve_asset_graph()
    declared = declarations(graph)
    order = products_in_dependency_order(defs)
    unknown = sorted(set(products or []) - set(order))
    if unknown:
        raise ValueError(f"unknown product(s) {', '.join(unknown)} (known: {', '.join(sorted(order))})")
    selected = {k for k, d in declared.items() if not products or d.product in products}
    if with_upstream:
        selected |= {k for k in _ancestors(graph, selected) if k in declared}
    runs = []
    for product in order:
        members = [k for k in graph.toposorted_asset_keys if k in selected and declared[k].product == product]
        if not members:
            continue
        product_days = days or [product_today(declared, product, now or datetime.now().astimezone())]
        _check_in_range(graph, product, members, product_days)
        for index, chunk in enumerate(_chunks([d.isoformat() for d in product_days], _chunk_size(graph, members))):
            keys = tuple(k for k in members if index == 0 or graph.get(k).is_partitioned)
            runs.append(PlannedRun(product, tuple(chunk), keys))
    return runs


def _ancestors(graph, keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    found, todo = set(), list(keys)
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in found and graph.has(parent):
                found.add(parent)
                todo.append(parent)
    return found


def _check_in_range(graph, product: str, members: list[dg.AssetKey], days: list[date]) -> None:
    for key in members:
        partitions_def = graph.get(key).partitions_def
        if partitions_def is None:
            continue
        first, last = partitions_def.get_first_partition_key(), partitions_def.get_last_partition_key()
        outside = [d.isoformat() for d in days if not partitions_def.has_partition_key(d.isoformat())]
        if outside:
            timezone = getattr(partitions_def, "timezone", None) or "UTC"
            today = datetime.now(ZoneInfo(timezone)).date().isoformat()
            note = f", today in {timezone}" if last == today else ""
            raise ValueError(f"date {outside[0]} is outside the partitions of product {product}: {first} to {last}{note}")


def _chunk_size(graph, keys) -> int:
    """Days per run: one, unless every partitioned table's BackfillPolicy allows a range (as Dagster's backfills)."""
    sizes = []
    for key in keys:
        node = graph.get(key)
        if node.is_partitioned:
            if node.backfill_policy is None:
                return 1
            sizes.append(node.backfill_policy.max_partitions_per_run or 10**6)
    return min(sizes, default=1)


def _chunks(days: list[str], size: int) -> list[list[str]]:
    return [days[i : i + size] for i in range(0, len(days), size)]


def missing_inputs(instance: dg.DagsterInstance, defs: dg.Definitions, runs: list[PlannedRun], outside: set | None = None) -> dict:
    """Inputs of ``runs`` not produced by them (or, with ``outside``, not in that set) and not
    materialized: {upstream key: sorted partitions (None for an unpartitioned one)}."""
    graph = defs.resolve_asset_graph()
    produced = outside if outside is not None else {k for run in runs for k in run.assets}
    needed: dict[dg.AssetKey, set] = defaultdict(set)
    for run in runs:
        for key in run.assets:
            child = graph.get(key)
            for parent in child.parent_keys:
                node = graph.get(parent) if graph.has(parent) else None
                if parent in produced or node is None or not node.is_materializable:
                    continue
                if not node.is_partitioned:
                    needed[parent].add(None)
                elif child.is_partitioned:  # a table reading a whole history (a model) is not gated by day
                    for partition in run.partitions:
                        mapped = graph.get_parent_partition_keys_for_child(partition, parent, key)
                        needed[parent].update(mapped.partitions_subset.get_partition_keys())
    missing = {}
    for parent, partitions in needed.items():
        if None in partitions:
            absent = [None] if instance.get_latest_materialization_event(parent) is None else []
        else:
            absent = sorted(partitions - instance.get_materialized_partitions(parent))
        if absent:
            missing[parent] = absent
    return missing


def describe_missing(defs: dg.Definitions, missing: dict) -> list[str]:
    """One line per missing input: ``related_articles (related_content) not materialized for 2026-11-01``."""
    graph = defs.resolve_asset_graph()
    declared = declarations(graph)
    lines = []
    for key, partitions in sorted(missing.items()):
        owner = declared[key].product if key in declared else f"group {graph.get(key).group_name}"
        when = "" if partitions == [None] else f" for {describe_days(partitions)}"
        lines.append(f"{key.to_user_string()} ({owner}) not materialized{when}")
    return lines


def describe_days(days: list[str]) -> str:
    """``2026-11-01``, ``2026-11-01 to 2026-11-07`` (consecutive), or the first three and how many more."""
    if len(days) == 1:
        return days[0]
    if (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days == len(days) - 1:
        return f"{days[0]} to {days[-1]}"
    return ", ".join(days[:3]) + (f" and {len(days) - 3} more" if len(days) > 3 else "")


def run_batch(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    runs: list[PlannedRun],
    origin: RunOrigin | None = None,
    tags: dict[str, str] | None = None,
    backfill_title: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[AssetOutcome]:
    """Execute the planned runs in order (``backfill_title``: as one Dagster backfill); never raises
    on a failed run. An interruption raises ``BatchInterrupted`` with the outcomes so far."""
    graph = defs.resolve_asset_graph()
    declared = declarations(graph)
    say = progress or (lambda line: None)
    targets = {(k, p if graph.get(k).is_partitioned else None) for run in runs for k in run.assets for p in run.partitions}
    backfill_id = open_backfill(instance, graph, targets, tags or {}, backfill_title) if backfill_title else None
    outcomes: list[AssetOutcome] = []
    current, stopped = None, False
    try:
        with ctrl_c_watch() as pressed:
            for planned in runs:
                for sub_run, reason in _ready_parts(instance, defs, planned):
                    if not sub_run.assets:  # only a model, still fresh: nothing to run
                        continue
                    if reason:
                        outcomes += skipped(declared, graph, sub_run.assets, list(sub_run.partitions), reason)
                        say(f"{sub_run.label}: not started: {reason}")
                        continue
                    run = create_run(defs, instance, sub_run.assets, _run_tags(graph, declared, sub_run, tags, backfill_id), origin)
                    current = (run.run_id, sub_run)
                    started = datetime.now()
                    for event in execute_in_process(defs, instance, run):
                        if line := retry_line(event):
                            say(f"{sub_run.label}: {line}")
                    if pressed():
                        mark_interrupted(instance, run.run_id)
                    done = read_outcomes(instance, run.run_id, graph, declared, list(sub_run.assets), list(sub_run.partitions))
                    current = None
                    outcomes += done
                    bad = sum(not o.ok for o in done)
                    verdict = "ok" if not bad else f"{bad} of {len(done)} not ok"
                    say(f"{sub_run.label}: run {run.run_id[:8]} {verdict} ({(datetime.now() - started).total_seconds():.1f} s)")
                    if pressed():  # during the run, or since it ended: stop before the next one
                        raise KeyboardInterrupt
    except BaseException as error:
        stopped = True  # Ctrl-C, or an error of the batch itself: the backfill did not run to its end
        if current is not None:  # the run that was executing: what it recorded before it stopped
            run_id, sub_run = current
            record = instance.get_run_by_id(run_id)
            if record is not None and record.status == dg.DagsterRunStatus.NOT_STARTED:  # created, never started: not left "in progress"
                instance.report_run_canceled(record, message="ml-platform: stopped before this run started")
            mark_interrupted(instance, run_id)
            outcomes += read_outcomes(instance, run_id, graph, declared, list(sub_run.assets), list(sub_run.partitions))
        raise BatchInterrupted(outcomes, error) from error
    finally:
        if backfill_id:
            landed = {o.target for o in outcomes if o.materialized}
            failed = {o.target for o in outcomes if not o.materialized}
            cancelled = stopped or len(landed | failed) < len(targets)
            close_backfill(instance, graph, backfill_id, landed, failed, cancelled, succeeded=all(o.ok for o in outcomes))
    return outcomes


def mark_interrupted(instance: dg.DagsterInstance, run_id: str) -> None:
    """A run that failed because the user pressed Ctrl-C: its rows say so, and no alert pages for it."""
    record = instance.get_run_by_id(run_id)
    if record is not None and record.status == dg.DagsterRunStatus.FAILURE:
        instance.add_run_tags(run_id, {INTERRUPTED_TAG: "ctrl-c"})


def _ready_parts(instance, defs, planned: PlannedRun):
    """The run split by readiness: the days whose inputs from outside the run are materialized (as
    consecutive ranges), and the days that wait for one, with the reason."""
    waiting: dict[str, str] = {}
    for day in planned.partitions:
        one = PlannedRun(planned.product, (day,), planned.assets)
        missing = missing_inputs(instance, defs, [one], outside=set(planned.assets))
        if missing:
            waiting[day] = "; ".join(describe_missing(defs, missing))
    ready = [d for d in planned.partitions if d not in waiting]
    parts = sorted([(tuple(r), None) for r in _consecutive(ready)] + [((day,), why) for day, why in waiting.items()])
    # A model runs once: in the first ready part, else it is reported with the first waiting day;
    # and only when it is missing or older than its SLO window (a daily run does not retrain a weekly model).
    owner = next((i for i, (_, why) in enumerate(parts) if why is None), 0)
    graph = defs.resolve_asset_graph()
    dated = tuple(k for k in planned.assets if graph.get(k).is_partitioned)
    stale = tuple(k for k in planned.assets if not graph.get(k).is_partitioned and not _fresh_model(instance, graph, k))
    once = tuple(k for k in planned.assets if k in dated or k in stale)
    return [(PlannedRun(planned.product, days, once if i == owner else dated), why) for i, (days, why) in enumerate(parts)]


def _fresh_model(instance: dg.DagsterInstance, graph, key: dg.AssetKey) -> bool:
    """An unpartitioned table materialized within its declared SLO window (default: never fresh)."""
    declared = declarations(graph).get(key)
    latest = instance.get_latest_materialization_event(key)
    if declared is None or latest is None:
        return False
    return time.time() - latest.timestamp < declared.slo.window.total_seconds()


def _consecutive(days: list[str]) -> list[list[str]]:
    ranges: list[list[str]] = []
    for day in days:
        if ranges and date.fromisoformat(day) - date.fromisoformat(ranges[-1][-1]) == timedelta(days=1):
            ranges[-1].append(day)
        else:
            ranges.append([day])
    return ranges


def _run_tags(graph, declared, planned: PlannedRun, tags, backfill_id) -> dict[str, str]:
    deps = {key: graph.get(key).parent_keys for key in planned.assets}
    # The run-level limits every launch path applies (compute/run_limits.py).
    limits = declared_run_limit_tags({key: declared[key] for key in planned.assets}, deps)
    if MAX_RUNTIME_TAG in limits:  # a ranged run computes every day of its range in each step
        limits[MAX_RUNTIME_TAG] = str(int(limits[MAX_RUNTIME_TAG]) * len(planned.partitions))
    return {
        PRODUCT_TAG: planned.product,
        **partition_tags(list(planned.partitions)),
        **limits,
        **(tags or {}),
        **({BACKFILL_TAG: backfill_id} if backfill_id else {}),
    }


def run_days(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    days: list[date] | None,
    products: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> list[AssetOutcome]:
    """Every product (dependency order) for each day; ``days=None`` means each product's today.

    Raises ``InputsMissing`` before any run when an input from outside the batch is not materialized."""
    runs = plan(defs, days, products)
    missing = missing_inputs(instance, defs, runs)
    if missing:
        raise InputsMissing(describe_missing(defs, missing))
    return run_batch(defs, instance, runs, tags=tags)
