"""How often a load parses the declarations, and what assembly costs, at N tables.

Counts ``MLAsset.from_dict`` calls while the synthetic catalog (``synthetic_catalog``) is assembled
(``assemble_definitions``: the path of the real code location) and while a sensor tick reads the
declarations of the repository's asset graph (``declarations(graph)``, twice: two ticks of one
code server), and times the assembly. ``--checkouts`` runs the same measurement against other
checkouts of the repository (e.g. main in a ``git worktree``), interleaved, each in a fresh
interpreter, so two versions are compared side by side on the same machine load:

    python -m benchmarks.declaration_reads --tables 1000 --repeats 3 --checkouts /tmp/main .
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ONE_RUN = """
import json, os, sys, time
sys.path.insert(0, os.getcwd())
from ml_platform import declaration
calls = []
real = declaration.MLAsset.from_dict
declaration.MLAsset.from_dict = staticmethod(lambda data: calls.append(1) or real(data))
from benchmarks.synthetic_catalog import CatalogShape, catalog_tables, platform_asset
from ml_platform.assembly import assemble_definitions
assets = [platform_asset(t) for t in catalog_tables(CatalogShape.from_env())]
calls.clear()
started = time.perf_counter()
defs = assemble_definitions(assets, env="local")
assembly_s = time.perf_counter() - started
at_build = len(calls)
graph = defs.resolve_asset_graph()
calls.clear()
declaration.declarations(graph)
first_tick = len(calls)
declaration.declarations(graph)
print(json.dumps({"assets": len(assets), "from_dict_at_build": at_build, "from_dict_first_tick": first_tick,
                  "from_dict_second_tick": len(calls) - first_tick, "assembly_s": round(assembly_s, 2)}))
"""


def run(checkout: Path, tables: int) -> dict:
    env = {**os.environ, "ML_PLATFORM_SYNTH_PRODUCTS": str(tables // 10), "ML_PLATFORM_SYNTH_TABLES_PER_PRODUCT": "10"}
    done = subprocess.run([sys.executable, "-c", ONE_RUN], cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{checkout}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, nargs="+", default=[1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkouts", nargs="+", default=["."])
    args = parser.parse_args()
    checkouts = [Path(c).resolve() for c in args.checkouts]
    for tables in args.tables:
        runs: dict[Path, list[dict]] = {c: [] for c in checkouts}
        for repeat in range(args.repeats):  # interleaved, order alternating
            for checkout in checkouts if repeat % 2 == 0 else reversed(checkouts):
                runs[checkout].append(run(checkout, tables))
        for checkout, results in runs.items():
            out = {k: v for k, v in results[0].items() if k != "assembly_s"}
            seconds = [r["assembly_s"] for r in results]
            print(json.dumps({"benchmark": "declaration_reads", "checkout": str(checkout), "tables": tables, **out,
                              "assembly_median_s": statistics.median(seconds), "assembly_s": seconds}))


if __name__ == "__main__":
    main()
