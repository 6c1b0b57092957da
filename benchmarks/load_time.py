"""Code-location load time of the synthetic catalog, platform versus plain Dagster, side by side.

Runs ``dagster definitions validate`` on both flavours of the same shape, interleaved, and
reports the median wall time of each, its spread (min, quartiles, max) and the ratio of the
medians (goal: platform / plain <= 1.1). The ratio of each interleaved pair is reported too:
pairs run back to back, so they share the machine's load of the moment.

    python -m benchmarks.load_time --tables 300 1000 --repeats 9 --also plain_args
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

CATALOG = Path(__file__).with_name("synthetic_catalog.py")
TABLES_PER_PRODUCT = 10
GOAL = 1.1


def validate_seconds(flavour: str, products: int, env: dict[str, str]) -> float:
    command = [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-f", str(CATALOG), "-a", f"{flavour}_defs"]
    started = time.perf_counter()
    result = subprocess.run(command, env={**env, "ML_PLATFORM_SYNTH_PRODUCTS": str(products)}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{flavour} catalog with {products} products failed validation:\n{result.stderr[-3000:]}")
    return elapsed


def measure(tables: int, repeats: int, env: dict[str, str], extra: tuple[str, ...] = ()) -> dict:
    products = tables // TABLES_PER_PRODUCT
    flavours = ("platform", "plain", *extra)
    times: dict[str, list[float]] = {f: [] for f in flavours}
    validate_seconds("plain", products, env)  # warm the file-system and bytecode caches
    for i in range(repeats):
        for flavour in flavours if i % 2 == 0 else flavours[::-1]:
            times[flavour].append(validate_seconds(flavour, products, env))
    platform, plain = statistics.median(times["platform"]), statistics.median(times["plain"])
    pair_ratios = [a / b for a, b in zip(times["platform"], times["plain"], strict=True)]
    return {
        "tables": products * TABLES_PER_PRODUCT,
        "products": products,
        "platform_median_s": round(platform, 3),
        "plain_median_s": round(plain, 3),
        "ratio": round(platform / plain, 3),
        "goal": GOAL,
        "met": platform / plain <= GOAL,
        "pair_ratio_median": round(statistics.median(pair_ratios), 3),
        "pair_ratio_quartiles": [round(q, 3) for q in _quartiles(pair_ratios)],
        "platform_spread_s": _spread(times["platform"]),
        "plain_spread_s": _spread(times["plain"]),
        **{f"{f}_median_s": round(statistics.median(times[f]), 3) for f in extra},
        **{f"{f}_ratio_to_plain": round(statistics.median(times[f]) / plain, 3) for f in extra},
        **{f"{f}_runs_s": [round(t, 3) for t in ts] for f, ts in times.items()},
    }


def _quartiles(values: list[float]) -> list[float]:
    return statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3


def _spread(values: list[float]) -> dict[str, float]:
    low, _, high = _quartiles(values)
    return {"min": round(min(values), 3), "q1": round(low, 3), "q3": round(high, 3), "max": round(max(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--also", nargs="*", default=[], choices=["plain_args"],
        help="further flavours to interleave, e.g. plain_args (plain Dagster with the platform's per-asset arguments)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "ML_PLATFORM_SYNTH_TABLES_PER_PRODUCT": str(TABLES_PER_PRODUCT),
            "ML_PLATFORM_DUCKDB_PATH": str(Path(home) / "warehouse.duckdb"),
            "DAGSTER_HOME": home,
        }
        results = [measure(n, args.repeats, env, tuple(args.also)) for n in args.tables]
    print(json.dumps({"benchmark": "code_location_load", "command": "dagster definitions validate", "results": results}, indent=2))


if __name__ == "__main__":
    main()
