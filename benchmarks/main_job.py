"""Wall time of the main job (``ml-platform run``) and of each asset, on embedded defaults.

    python benchmarks/main_job.py [--repeat N]

Prints JSON. Each repeat starts from an empty warehouse and instance in a temp dir, runs the
CLI end to end in a subprocess (imports, code location load, 3 runs, summary), then reads
per-asset step durations from that instance.
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


def one_run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ML_PLATFORM_DUCKDB_PATH": f"{tmp}/warehouse.duckdb", "DAGSTER_HOME": f"{tmp}/home"}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "ml_platform", "run"], cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
        os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
        with dg.DagsterInstance.get() as instance:
            steps = {}
            for record in instance.get_run_records():
                for stat in instance.get_run_step_stats(record.dagster_run.run_id):
                    steps[stat.step_key] = stat.end_time - stat.start_time
            run_seconds = sum(r.end_time - r.start_time for r in instance.get_run_records())
        return {"wall_seconds": wall, "runs_seconds": run_seconds, "asset_seconds": steps}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.repeat)]
    walls = [r["wall_seconds"] for r in runs]
    assets = sorted(runs[0]["asset_seconds"])
    print(
        json.dumps(
            {
                "benchmark": "main_job",
                "command": "ml-platform run (fresh warehouse and instance each repeat)",
                "repeat": args.repeat,
                "wall_seconds_median": round(statistics.median(walls), 2),
                "wall_seconds_max": round(max(walls), 2),
                "goal_seconds": 60,
                "runs_seconds_median": round(statistics.median(r["runs_seconds"] for r in runs), 2),
                "asset_seconds_median": {
                    a: round(statistics.median(r["asset_seconds"][a] for r in runs), 3) for a in assets
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
