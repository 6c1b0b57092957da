"""A backfill of every example product over DAYS days, launched as the UI launches it, against the
in-process ``ml-platform backfill`` of the same range and against one run per day. Prints JSON.

    python -m benchmarks.backfill_timeline --days 30

Sides, one after the other in the same invocation:

- ``ranged``: the shipped code location (every declared daily table backfills a range in one run,
  ``ml_platform.ranged_runs``) on a fresh production-shaped deployment (PostgreSQL instance from
  deploy/dagster.yaml, webserver, dagster-daemon; ``tests/fixtures/dagster_deployment.py``); the
  backfill of every declared asset over the range is launched through the webserver's GraphQL API
  as the UI's *Materialize → Launch backfill* does, and waited for;
- ``per_day``: the same on a code location without backfill policies (``benchmarks/per_day_location.py``):
  one run per product and day, the behaviour before;
- ``in_process``: ``ml-platform backfill --start A --end B`` on a fresh local instance and
  warehouse (one ``execute_in_process`` run per product and day).

Each run of a deployment side is split by its run events:

- ``queued``: RUN_ENQUEUED to RUN_STARTING (the daemon's dequeue loop and the concurrency limits);
- ``launch``: RUN_STARTING to RUN_START (the run worker starts and loads the code location);
- ``steps``: RUN_START to the run's last event;
- ``wall``: backfill requested to its last run's end (``in_process``: the command's wall time).
Goals: ``ranged`` wall <= 1.5 x ``in_process``, and ``per_day`` wall >= 5 x ``ranged``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

warnings.filterwarnings("ignore")

import dagster as dg  # noqa: E402

from tests.fixtures.dagster_deployment import REPO_ROOT, dagster_deployment  # noqa: E402
from tests.fixtures.postgres import postgres_server  # noqa: E402
from tests.production.test_postgres_instance import LAUNCH_BACKFILL  # noqa: E402

FIRST_DAY = date(2026, 1, 1)
MARKS = (dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING, dg.DagsterEventType.RUN_START)
PER_DAY_WORKSPACE = "load_from:\n  - python_module:\n      module_name: benchmarks.per_day_location\n      location_name: ml_platform\n"
SIDES = ("ranged", "per_day", "in_process")
PHASES = ("queued", "launch", "steps")


def declared_assets() -> list[str]:
    from ml_platform.declaration import declarations
    from ml_platform.definitions import build_definitions

    return sorted(key.to_user_string() for key in declarations(build_definitions("local").resolve_asset_graph()))


def timeline(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    records = instance.get_records_for_run(run_id, limit=100_000).records
    at = {r.event_log_entry.dagster_event_type: r.event_log_entry.timestamp for r in records if r.event_log_entry.is_dagster_event}
    end = records[-1].event_log_entry.timestamp
    enqueued, launched, started = (at[m] for m in MARKS)
    return {"queued": launched - enqueued, "launch": started - launched, "steps": end - started, "end": end}


def deployment_side(side: str, partitions: list[str], assets: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as postgres, dagster_deployment(postgres) as deployment:
        if side == "per_day":
            deployment.workspace = str(Path(tmp) / "workspace.yaml")
            Path(deployment.workspace).write_text(PER_DAY_WORKSPACE)
        # Each pool's limit stored up front, as the deployment docs require (deploy/set_pool_limits.sh):
        # without it, run workers starting together race to store the default limit on PostgreSQL and
        # one fails (Dagster's initialize_concurrency_limit_to_default: UniqueViolation).
        path = f"{os.path.dirname(sys.executable)}:{deployment.env['PATH']}"
        subprocess.run(["bash", str(REPO_ROOT / "deploy" / "set_pool_limits.sh")], env={**deployment.env, "PATH": path},
                       check=True, capture_output=True)
        deployment.start_webserver()
        deployment.start_daemon()
        instance = deployment.instance()
        started = time.time()
        params = {"assetSelection": [{"path": [name]} for name in assets], "partitionNames": partitions}
        backfill_id = deployment.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]["backfillId"]
        deployment.wait_until(lambda: instance.get_backfill(backfill_id).status.value != "REQUESTED", 7200, "the backfill", interval=1.0)
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        failed = [run.run_id for run in runs if run.status != dg.DagsterRunStatus.SUCCESS]
        if failed:
            errors = [e.dagster_event.step_failure_data.error.to_string()[-1500:] for run_id in failed
                      for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
            raise SystemExit(f"{side}: runs {failed} did not succeed (backfill {instance.get_backfill(backfill_id).status}):\n" + "\n".join(errors))
        lines = sorted((timeline(instance, run.run_id) for run in runs), key=lambda t: t["end"])
        materialized = {a: len(instance.get_materialized_partitions(dg.AssetKey(a))) for a in assets}
    return {
        "runs": len(lines),
        "wall_s": round(lines[-1]["end"] - started, 1),
        "median_per_run_s": {p: round(statistics.median(t[p] for t in lines), 2) for p in PHASES},
        "min_queued_s": round(min(t["queued"] for t in lines), 2),
        "sum_s": {p: round(sum(t[p] for t in lines), 1) for p in PHASES},
        "partitions_materialized": materialized,
    }


def in_process_side(first: str, last: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "dagster_home"
        env = {**os.environ, "DAGSTER_HOME": str(home), "ML_PLATFORM_ENV": "local", "ML_PLATFORM_DUCKDB_PATH": f"{tmp}/warehouse.duckdb"}
        command = [str(Path(sys.executable).with_name("ml-platform")), "backfill", "--start", first, "--end", last]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"in_process: {done.stderr[-3000:]}")
    return {"wall_s": round(wall, 1), "command": "ml-platform backfill --start " + first + " --end " + last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    args = parser.parse_args()
    partitions = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(args.days)]
    assets = declared_assets()
    sides = {}
    for side in args.sides:
        sides[side] = in_process_side(partitions[0], partitions[-1]) if side == "in_process" else deployment_side(side, partitions, assets)
        print(json.dumps({side: sides[side]}), file=sys.stderr, flush=True)
    result = {
        "benchmark": "backfill_timeline",
        "command": f"python -m benchmarks.backfill_timeline --days {args.days}",
        "partitions": len(partitions),
        "assets": assets,
        "sides": sides,
        "load_average": os.getloadavg(),
    }
    if "ranged" in sides and "in_process" in sides:
        result["ranged_over_in_process"] = round(sides["ranged"]["wall_s"] / sides["in_process"]["wall_s"], 2)
        result["goal_ranged_over_in_process"] = 1.5
    if "ranged" in sides and "per_day" in sides:
        result["per_day_over_ranged"] = round(sides["per_day"]["wall_s"] / sides["ranged"]["wall_s"], 2)
        result["goal_per_day_over_ranged"] = 5.0
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
