"""Where code-location load time goes, in process, phase by phase, for either catalog flavour.

``dagster definitions validate`` starts a code server that imports the module, builds the
``Definitions``, resolves the repository (every job), builds the repository snapshot and
serializes it; the CLI process then deserializes it. This script times those phases (each in
a fresh process per flavour, so imports are counted once) and can write a cProfile of them:

    python -m benchmarks.load_profile --tables 1000 --repeats 3
    python -m benchmarks.load_profile --tables 1000 --flavour platform --cprofile /tmp/platform.prof
    python -m benchmarks.load_profile --tables 1000 --flavour all --with-cron-cache --repeats 3

``--with-cron-cache`` deserializes the snapshot a second time with Dagster's
``get_smallest_cron_interval`` memoized (in the benchmark process only): what a cache inside
Dagster would save when a snapshot is deserialized. The platform cannot apply it: snapshots are deserialized by the
webserver, daemon and CLI processes, which never import the platform.
"""

import argparse
import cProfile
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load_time import TABLES_PER_PRODUCT

CACHED = "deserialize_with_cron_cache"
PHASES = ("import", "definitions", "repository", "snapshot", "serialize", "deserialize")


def time_phases(flavour: str, profile_path: str | None, cron_cache: bool = False) -> dict[str, float]:
    """Runs in the child process: one load of ``<flavour>_defs``, timed phase by phase."""
    # The repository snapshot and its serialization are what the code server sends to the CLI;
    # Dagster has no public API for them, so they are imported here, in the benchmark only.
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import deserialize_value, serialize_value

    profiler = cProfile.Profile() if profile_path else None
    seconds: dict[str, float] = {}

    def phase(name, fn):
        started = time.perf_counter()
        if profiler and name != "import":
            profiler.enable()
        value = fn()
        if profiler:
            profiler.disable()
        seconds[name] = round(time.perf_counter() - started, 3)
        return value

    catalog = phase("import", lambda: importlib.import_module("benchmarks.synthetic_catalog"))
    defs = phase("definitions", getattr(catalog, f"{flavour}_defs"))
    repo = phase("repository", lambda: _resolved(defs.get_repository_def()))
    snap = phase("snapshot", lambda: RepositorySnap.from_def(repo))
    text = phase("serialize", lambda: serialize_value(snap))
    phase("deserialize", lambda: deserialize_value(text, RepositorySnap))
    if cron_cache:
        _memoize_smallest_cron_interval()
        phase(CACHED, lambda: deserialize_value(text, RepositorySnap))
    if profiler:
        profiler.dump_stats(profile_path)
    seconds["total"] = round(sum(seconds[p] for p in PHASES), 3)
    return seconds


def _memoize_smallest_cron_interval() -> None:
    """Benchmark only: ``CronFreshnessPolicy.__new__`` samples up to 1,000 cron ticks each time a
    policy is built, including every time a snapshot's asset node is deserialized."""
    import functools

    from dagster._core.definitions import freshness  # benchmark only: what an upstream cache would save

    freshness.get_smallest_cron_interval = functools.lru_cache(maxsize=None)(freshness.get_smallest_cron_interval)


def _resolved(repo):
    repo.load_all_definitions()
    return repo


def measure(flavour: str, tables: int, env: dict[str, str], profile_path: str | None = None) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.load_profile", "--child", flavour]
    if profile_path:
        command += ["--cprofile", profile_path]
    products = tables // TABLES_PER_PRODUCT
    done = subprocess.run(command, env={**env, "ML_PLATFORM_SYNTH_PRODUCTS": str(products)}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{flavour} catalog with {products} products failed to load:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--flavour", choices=("platform", "plain", "plain_args", "both", "all"), default="both")
    parser.add_argument("--with-cron-cache", action="store_true", help="also deserialize with the cron-interval cache")
    parser.add_argument("--cprofile", help="write a cProfile of the phases after import (one run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_phases(args.child, args.cprofile, os.environ.get("ML_PLATFORM_BENCH_CRON_CACHE") == "1")))
        return
    flavours = {"both": ("platform", "plain"), "all": ("platform", "plain_args", "plain")}.get(args.flavour, (args.flavour,))
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "ML_PLATFORM_SYNTH_TABLES_PER_PRODUCT": str(TABLES_PER_PRODUCT),
            "ML_PLATFORM_DUCKDB_PATH": str(Path(home) / "warehouse.duckdb"),
            "DAGSTER_HOME": home,
        }
        if args.cprofile:
            print(json.dumps(measure(flavours[0], args.tables, env, args.cprofile)))
            return
        runs: dict[str, list[dict[str, float]]] = {f: [] for f in flavours}
        for i in range(args.repeats):
            for flavour in flavours if i % 2 == 0 else flavours[::-1]:
                runs[flavour].append(measure(flavour, args.tables, {**env, **({"ML_PLATFORM_BENCH_CRON_CACHE": "1"} if args.with_cron_cache else {})}))
    medians = {
        flavour: {p: round(statistics.median(r[p] for r in rs), 3) for p in (*PHASES, "total", CACHED) if p in rs[0]}
        for flavour, rs in runs.items()
    }
    print(json.dumps({"benchmark": "code_location_load_phases", "tables": args.tables, "repeats": args.repeats, "median_s": medians}, indent=2))


if __name__ == "__main__":
    main()
