"""Load of the example code location against a plain Dagster code location with the same assets.

    python -m benchmarks.example_load --repeats 9

Each measurement is a fresh interpreter, as a run worker or code server is, that imports a code
location, builds its ``Definitions`` and resolves every job (what a run worker does before its
first step). Two contexts: ``bare`` (the interpreter imports nothing first: the cost of the code
location's own imports, Dagster's included) and ``run_worker`` (the interpreter has imported what
``dagster api execute_run`` imports before it loads a code location, ``dagster._cli.api``: the time a
run worker spends on the code location itself). Sides, interleaved (order alternating per repeat):

- ``platform``: ``ml_platform.definitions`` (the example products, assembled by the platform);
- ``plain``: ``benchmarks.plain_example_location``, the same assets, checks and schedules in Dagster alone;
- ``dagster``: ``import dagster`` only, for scale.

Prints JSON: per context and side the median seconds measured inside the interpreter (import +
build + resolve), their spread, and the platform/plain ratio of the medians and of each back-to-back
pair; for ``bare`` also the whole process (interpreter start to exit). Goal: platform / plain <= 1.3.
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

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.3
SIDES = {
    "platform": "ml_platform.definitions",
    "plain": "benchmarks.plain_example_location",
    "dagster": None,
}
CHILD = """
import importlib, json, sys, time, warnings
warnings.filterwarnings("ignore")
if sys.argv[2] == "run_worker":
    import dagster._cli.api  # what `dagster api execute_run` has imported before it loads the code location
started = time.perf_counter()
import dagster as dg
module = sys.argv[1]
if module != "-":
    defs = importlib.import_module(module).defs
    defs = defs() if callable(defs) and not isinstance(defs, dg.Definitions) else defs
    jobs = defs.get_repository_def().get_all_jobs()
print(json.dumps({"load_s": time.perf_counter() - started, "heavy": sorted(m for m in ("scipy", "sklearn", "matplotlib") if m in sys.modules)}))
"""


CONTEXTS = ("bare", "run_worker")


def measure(side: str, context: str, env: dict[str, str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, SIDES[side] or "-", context], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{side}: {done.stderr[-3000:]}")
    return {"process_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def _spread(values: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": round(median, 3), "q1": round(q1, 3), "q3": round(q3, 3), "min": round(min(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        # Bytecode cached, as in the deployed image (pip install compiles it); PYTHONDONTWRITEBYTECODE
        # would make every load compile the platform's ~100 modules from source, and not the plain one.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = {**env, "DAGSTER_HOME": home, "ML_PLATFORM_DUCKDB_PATH": f"{home}/warehouse.duckdb", "ML_PLATFORM_ENV": "local"}
        (Path(home) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        measure("plain", "bare", env)  # warm the file-system and bytecode caches
        measure("platform", "bare", env)
        runs: dict[tuple[str, str], list[dict]] = {(c, side): [] for c in CONTEXTS for side in SIDES}
        for i in range(args.repeats):
            for context in CONTEXTS:
                for side in list(SIDES) if i % 2 == 0 else list(SIDES)[::-1]:
                    runs[context, side].append(measure(side, context, env))
    result: dict = {"benchmark": "example_load", "command": f"python -m benchmarks.example_load --repeats {args.repeats}"}
    for context, measure_name in (("bare", "load_s"), ("bare", "process_s"), ("run_worker", "load_s")):
        mine = {side: [r[measure_name] for r in runs[context, side]] for side in SIDES}
        pairs = [a / b for a, b in zip(mine["platform"], mine["plain"], strict=True)]
        result[f"{context}_{measure_name}"] = {
            **{side: _spread(values) for side, values in mine.items()},
            "platform_over_plain": round(statistics.median(mine["platform"]) / statistics.median(mine["plain"]), 3),
            "pair_ratio_median": round(statistics.median(pairs), 3),
        }
    result["heavy_modules_loaded"] = {side: runs["bare", side][0]["heavy"] for side in SIDES}
    result["goal"] = GOAL
    result["met"] = {c: result[f"{c}_load_s"]["platform_over_plain"] <= GOAL for c in CONTEXTS}
    result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
