"""Where a UI-launched backfill spends its time. Prints JSON.

    python -m benchmarks.backfill_timeline --days 7

Two sides, one after the other in the same invocation, each on a fresh deployment: ``fork`` (local
steps forked from the run worker, the default) and ``spawn`` (a new interpreter per step, the
behaviour before; ``ML_PLATFORM_LOCAL_START_METHOD=spawn``). Each side starts the production-shaped deployment of the tests (PostgreSQL instance from deploy/dagster.yaml,
webserver, dagster-daemon; ``tests/fixtures/dagster_deployment.py``), launches a backfill of
``article_texts`` over DAYS daily partitions through the webserver's GraphQL API as the UI does,
waits for it, and splits each run's life by its run events:

- ``queued``: RUN_ENQUEUED to RUN_STARTING (the run waits in the daemon's queue, which admits one
  run per product at a time and looks every ``dequeue_interval_seconds``, then launches it);
- ``launch``: RUN_STARTING to RUN_START (the run worker process starts, imports the platform and
  loads the code location);
- ``steps``: RUN_START to the run's last event (the steps, forked from the run worker);
- ``wall``: backfill requested to its last run's end.
"""

import argparse
import json
import os
import statistics
import time
import warnings

warnings.filterwarnings("ignore")

import dagster as dg  # noqa: E402

from tests.fixtures.dagster_deployment import dagster_deployment  # noqa: E402
from tests.fixtures.postgres import postgres_server  # noqa: E402
from tests.production.test_postgres_instance import LAUNCH_BACKFILL  # noqa: E402

ASSET = "article_texts"
MARKS = (dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING, dg.DagsterEventType.RUN_START)


def timeline(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    records = instance.get_records_for_run(run_id, limit=10_000).records
    at = {r.event_log_entry.dagster_event_type: r.event_log_entry.timestamp for r in records if r.event_log_entry.is_dagster_event}
    end = records[-1].event_log_entry.timestamp
    enqueued, launched, started = (at[m] for m in MARKS)
    return {"queued": launched - enqueued, "launch": started - launched, "steps": end - started, "end": end}


def side(start_method: str, partitions: list[str]) -> dict:
    os.environ["ML_PLATFORM_LOCAL_START_METHOD"] = start_method  # inherited by the daemon and run workers
    try:
        with postgres_server() as postgres, dagster_deployment(postgres) as deployment:
            deployment.start_webserver()
            deployment.start_daemon()
            instance = deployment.instance()
            started = time.time()
            params = {"assetSelection": [{"path": [ASSET]}], "partitionNames": partitions}
            backfill_id = deployment.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]["backfillId"]
            deployment.wait_until(lambda: instance.get_backfill(backfill_id).status.value != "REQUESTED", 900, "the backfill", interval=1.0)
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), [run.status for run in runs]
            lines = sorted((timeline(instance, run.run_id) for run in runs), key=lambda t: t["end"])
    finally:
        del os.environ["ML_PLATFORM_LOCAL_START_METHOD"]
    return {
        "runs": len(lines),
        "wall_s": round(lines[-1]["end"] - started, 1),
        "median_per_run_s": {p: round(statistics.median(t[p] for t in lines), 2) for p in ("queued", "launch", "steps")},
        "sum_s": {p: round(sum(t[p] for t in lines), 1) for p in ("queued", "launch", "steps")},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    partitions = [f"2026-01-{day:02d}" for day in range(1, args.days + 1)]
    sides = {method: side(method, partitions) for method in ("fork", "spawn")}
    print(json.dumps({
        "benchmark": "backfill_timeline",
        "partitions": len(partitions),
        "sides": sides,
        "spawn_over_fork_wall": round(sides["spawn"]["wall_s"] / sides["fork"]["wall_s"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
