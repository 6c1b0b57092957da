"""Cost of one tick of the data-driven launch (the ``cross_product_launch_<product>`` automation
sensors) at 1,000 tables, and its storage calls. Prints JSON.

    python -m benchmarks.automation_tick [--products 100] [--tables-per-product 10] [--cross-every 3 1] [--repeat 3] [--storage postgres sqlite]

The synthetic catalog (``benchmarks/synthetic_catalog.py``) is assembled like the real code
location, so every prediction table that reads another product's feature table carries
``launch_on_inputs``. A Dagster instance on PostgreSQL (as deployed; ``--storage sqlite``: SQLite
on tmpfs, as ``dagster dev``) holds the last ``DAYS`` days in which every
table landed (the inputs of the consumers with their checks passed, as runs write them), except
that today the other-product input of every second consumer has not landed yet. Then Dagster's own
evaluator (``dg.evaluate_automation_conditions``, what each product's automation sensor runs in the
code server, over that sensor's target) ticks every sensor, each carrying its own cursor; a tick's
time is the sum over the sensors (the daemon's work per interval):

* ``first``: empty cursor (the sensor just switched on): requests today's consumers whose inputs are ready;
* ``steady``: 30 s later, nothing changed (the common case);
* ``after_updates``: the late inputs landed and passed their checks: their consumers are requested.

Storage calls are counted as in ``slo_sensor_tick.py``.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # benchmark only: what a check run writes
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.storage.dagster_run import make_new_run_id

from benchmarks.slo_sensor_tick import CallCounter, _frozen
from benchmarks.synthetic_catalog import CatalogShape, catalog_tables, platform_asset
from ml_platform.assembly import assemble_definitions
from ml_platform.checks.quality_checks import check_names
from ml_platform.declaration import declarations
from ml_platform.schedules.cross_product_launch import SENSOR_NAME
from tests.fixtures.postgres import postgres_instance

TZ = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 3, 10, 7, 0, tzinfo=TZ)
DAYS = 3


def land(instance, run_id: str, key: dg.AssetKey, partition: str | None, checks: list[str]) -> None:
    """A materialization and its passed checks, in a run, as the platform's steps write them."""
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
    if not checks:
        return
    [record] = instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=[partition] if partition else None), limit=1).records
    target = AssetCheckEvaluationTargetMaterializationData(storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
    for name in checks:
        evaluation = dg.AssetCheckEvaluation(asset_key=key, check_name=name, passed=True, partition=partition, target_materialization_data=target)
        instance.report_dagster_event(
            DagsterEvent(DagsterEventType.ASSET_CHECK_EVALUATION.value, "__ASSET_JOB", event_specific_data=evaluation), run_id=run_id
        )


@contextmanager
def _instance(storage: str):
    """PostgreSQL as the deployment stores the instance (default); SQLite on tmpfs as ``dagster dev``."""
    if storage == "postgres":
        with postgres_instance("automation_tick") as (_, instance):
            yield instance
        return
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as home, dg.instance_for_test(temp_dir=home) as instance:
        yield instance


def measure(shape: CatalogShape, storage: str = "postgres") -> dict:
    os.environ.setdefault("ML_PLATFORM_DUCKDB_PATH", str(Path(tempfile.gettempdir()) / "automation_tick.duckdb"))
    defs = assemble_definitions([platform_asset(t) for t in catalog_tables(shape)], env="local")
    graph = defs.resolve_asset_graph()
    declared = declarations(graph)
    launched = [k for k in declared if graph.get(k).automation_condition is not None]
    inputs = {p for k in launched for p in graph.get(k).parent_keys}
    late = {p for k in launched[::2] for p in graph.get(k).parent_keys if declared[p].product != declared[k].product}
    result: dict = {"storage": storage, "tables": len(declared), "launched_on_data": len(launched), "late_inputs": len(late)}
    with _instance(storage) as instance:
        run_id = make_new_run_id()
        instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=run_id, status=dg.DagsterRunStatus.SUCCESS))
        days = [(NOW - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(DAYS - 1, -1, -1)]
        seeded = time.perf_counter()
        for day in days:
            with _frozen(datetime.fromisoformat(f"{day}T05:00").replace(tzinfo=TZ)):
                for key, declaration in declared.items():
                    if day == days[-1] and (key in late or key in launched):
                        continue  # today: some inputs late, every consumer still to launch
                    partition = day if declaration.partition_column else None
                    if partition is None and day != days[0]:
                        continue  # models: trained once
                    checks = check_names(declaration.expectations) if declaration.expectations and key in inputs else []
                    land(instance, run_id, key, partition, checks)
        result["seed_seconds"] = round(time.perf_counter() - seeded, 1)
        counter = CallCounter(instance)
        sensors = [s for s in defs.sensors if isinstance(s, dg.AutomationConditionSensorDefinition) and s.name.startswith(SENSOR_NAME)]
        result["sensors"] = len(sensors)
        cursors: dict[str, str | None] = {s.name: None for s in sensors}

        def tick(when):
            started, requested = time.perf_counter(), 0
            for sensor in sensors:  # what the daemon evaluates, one sensor per product
                out = dg.evaluate_automation_conditions(
                    defs=defs, instance=instance, asset_selection=sensor.asset_selection, evaluation_time=when, cursor=cursors[sensor.name]
                )
                cursors[sensor.name], requested = out.cursor, requested + out.total_requested
            return requested, time.perf_counter() - started, counter.take()

        requested, seconds, calls = tick(NOW)
        result["first"] = {"seconds": round(seconds, 3), "storage_queries": sum(calls.values()), "requested": requested}
        requested, seconds, calls = tick(NOW + timedelta(seconds=30))
        result["steady"] = {"seconds": round(seconds, 3), "storage_queries": sum(calls.values()), "requested": requested, "by_method": calls}
        with _frozen(NOW + timedelta(seconds=45)):
            for key in late:
                land(instance, run_id, key, days[-1], check_names(declared[key].expectations))
        counter.take()
        requested, seconds, calls = tick(NOW + timedelta(seconds=60))
        result["after_updates"] = {"seconds": round(seconds, 3), "storage_queries": sum(calls.values()), "requested": requested}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--tables-per-product", type=int, default=10)
    parser.add_argument("--cross-every", type=int, nargs="+", default=[3, 1])
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape; the median tick time is reported")
    parser.add_argument("--storage", choices=("postgres", "sqlite"), nargs="+", default=["postgres"], help="instance storage")
    args = parser.parse_args()
    results = []
    for storage in args.storage:
        for cross_every in args.cross_every:
            shape = CatalogShape(args.products, args.tables_per_product, cross_every)
            runs = [measure(shape, storage) for _ in range(args.repeat)]
            best = runs[0]
            for phase in ("first", "steady", "after_updates"):
                best[phase]["seconds"] = round(statistics.median(r[phase]["seconds"] for r in runs), 3)
            results.append({"cross_every": cross_every, **best})
    print(json.dumps({"benchmark": "automation_tick", "python": platform.python_version(), "dagster": dg.__version__, "goal_seconds_at_1000": 2.0, "results": results}, indent=2))


if __name__ == "__main__":
    main()
