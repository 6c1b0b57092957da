"""``ml-platform run``, ``backfill`` and ``ui``: materialize the products locally, open the UI."""

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from ml_platform.cli.code_location import ensure_local_home, load_code_location


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="materialize today's partition of every product and print a summary")
    run.add_argument("--date", type=date.fromisoformat, help="partition date (default: today in each product's SLO time zone)")
    run.add_argument("--product", action="append", help="only this product (repeatable)")
    run.set_defaults(handler=materialize)

    backfill = commands.add_parser("backfill", help="materialize every day from --start to --end (inclusive), one run per product and day")
    backfill.add_argument("--start", type=date.fromisoformat, required=True)
    backfill.add_argument("--end", type=date.fromisoformat, required=True)
    backfill.add_argument("--product", action="append", help="only this product (repeatable)")
    backfill.set_defaults(handler=materialize)

    ui = commands.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on the local instance")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=ui_command)


def materialize(args: argparse.Namespace) -> int:
    import dagster as dg

    from ml_platform.batch import date_range, format_outcomes, run_days

    ensure_local_home()
    defs = load_code_location(args.module)
    days = ([args.date] if args.date else None) if args.command == "run" else date_range(args.start, args.end)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        tags = {"ml_platform/backfill": f"{days[0]}...{days[-1]}"} if args.command == "backfill" else None
        outcomes = run_days(defs, instance, days, products=args.product or None, tags=tags)
    print(format_outcomes(outcomes))
    failed = [o for o in outcomes if not o.status.startswith("ok")]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} assets materialized and passed their checks in {time.perf_counter() - started:.1f}s")
    if failed:
        print("Open the UI (ml-platform ui) to see why: the runs are in the Runs tab, check results on each asset's Checks tab.")
    return 1 if failed else 0


def ui_command(args: argparse.Namespace) -> int:
    home = ensure_local_home()
    print(f"Dagster UI on http://localhost:{args.port} (instance: {home})", flush=True)
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").exists() else ["-m", args.module]
    # The interpreter running us has dagster installed, whether or not its venv is activated.
    os.execv(sys.executable, [sys.executable, "-m", "dagster", "dev", *target, "-p", str(args.port)])
