"""A run of all example products for one partition through the routing executor (the UI, daemon
and backfill path), against the in-process run of the same selection.

    python -m benchmarks.local_steps --repeats 3

Every side is one fresh Python process on its own fresh instance and warehouse (temp dir), as a
run worker is: interpreter start, imports and code-location load are included, and the selection
(the example products' declared tables with their quality checks) is the same:

- ``in_process``: ``execute_in_process``, steps one after another in that process (what
  ``ml-platform run`` does);
- ``fork``: ``dg.execute_job`` with the code location's routing executor, every step in a local
  process forked from the run worker (the default ``start_method``);
- ``spawn``: the same with ``start_method: spawn``, every step a new ``dagster api execute_step``
  interpreter (the behaviour before forking).

Sides alternate within each repeat. Prints JSON: median wall seconds per side (process start to
exit) and run seconds (run record start to end), and their ratios to ``in_process``. Goal: the
routing executor's run (``fork``) takes at most 1.5x the in-process run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5
PARTITION = "2026-02-02"
IN_PROCESS, FORK, SPAWN = "in_process", "fork", "spawn"
SIDES = (IN_PROCESS, FORK, SPAWN)
JOB_NAME = "all_example_products"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _definitions(start_method: str | None) -> dg.Definitions:
    """The example code location plus one job of every declared table; its executor set to ``start_method``."""
    from ml_platform.compute.routing_executor import routing_executor
    from ml_platform.declaration import declarations
    from ml_platform.definitions import build_definitions

    defs = build_definitions("local")
    selection = dg.AssetSelection.assets(*declarations(defs.resolve_asset_graph()))
    executor = routing_executor.configured({"real_backends": [], "local": {"start_method": start_method}}, name="bench_routing") if start_method else defs.executor
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        resources=defs.resources,
        jobs=[dg.define_asset_job(JOB_NAME, selection=selection)],
        executor=executor,
    )


def fork_job() -> dg.JobDefinition:
    return _definitions(FORK).resolve_job_def(JOB_NAME)


def spawn_job() -> dg.JobDefinition:
    return _definitions(SPAWN).resolve_job_def(JOB_NAME)


def worker(side: str) -> dict:
    """One run of the selection on DAGSTER_HOME's instance; the run's own duration from its record."""
    with dg.DagsterInstance.get() as instance:
        tags = {"dagster/partition": PARTITION}
        if side == IN_PROCESS:
            job = _definitions(None).resolve_job_def(JOB_NAME)
            result = job.execute_in_process(instance=instance, partition_key=PARTITION, run_config=QUIET, raise_on_error=False)
        else:
            target = dg.reconstructable(fork_job if side == FORK else spawn_job)
            result = dg.execute_job(target, instance=instance, tags=tags, run_config=QUIET, raise_on_error=False)
        record = instance.get_run_record_by_id(result.run_id)
        steps = instance.get_run_step_stats(result.run_id)
        return {"success": result.success, "run_seconds": record.end_time - record.start_time, "steps": len(steps)}


def one_side(side: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "DAGSTER_HOME": str(home), "ML_PLATFORM_DUCKDB_PATH": f"{tmp}/warehouse.duckdb", "ML_PLATFORM_ENV": "local"}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "benchmarks.local_steps", "--worker", side], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{side}: {done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if not result["success"]:
            raise SystemExit(f"{side}: the run failed\n{done.stderr[-3000:]}")
        return {"wall_seconds": wall, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    runs: dict[str, list[dict]] = {side: [] for side in args.sides}
    for i in range(args.repeats):
        order = args.sides if i % 2 == 0 else list(reversed(args.sides))
        for side in order:
            runs[side].append(one_side(side))
            print(json.dumps({"repeat": i, "side": side, **runs[side][-1]}), file=sys.stderr, flush=True)
    medians = {
        side: {measure: round(statistics.median(r[measure] for r in results), 2) for measure in ("wall_seconds", "run_seconds")}
        for side, results in runs.items()
    }
    summary = {
        "benchmark": "local_steps",
        "command": "python -m benchmarks.local_steps --repeats " + str(args.repeats),
        "partition": PARTITION,
        "steps_per_run": {side: results[0]["steps"] for side, results in runs.items()},
        "median": medians,
        "runs": {side: [{k: round(v, 2) for k, v in r.items() if k.endswith("seconds")} for r in results] for side, results in runs.items()},
    }
    if IN_PROCESS in medians:
        base = medians[IN_PROCESS]
        summary["ratio_to_in_process"] = {
            side: {m: round(v / base[m], 2) for m, v in values.items()} for side, values in medians.items() if side != IN_PROCESS
        }
        if FORK in medians:
            summary["goal"] = GOAL
            summary["met"] = summary["ratio_to_in_process"][FORK]["wall_seconds"] <= GOAL
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
