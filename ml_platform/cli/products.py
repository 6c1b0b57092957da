"""``ml-platform run`` and ``backfill``: materialize the products locally and print what Dagster recorded.

Exit codes: 0 every table partition landed and passed its checks; 1 some did not (the summary
says which and why); 2 nothing was run (bad input, or an input from outside the batch is missing).
"""

import argparse
import sys
import time

from ml_platform.cli.arguments import iso_date
from ml_platform.cli.code_location import CodeLocation, ensure_local_home
from ml_platform.cli.environment import check_environment, warn_about_price_sheet

UPSTREAM_HELP = "also materialize first, for the same days, the tables of other products these read (and what those read)"


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="materialize today's partition of every product and print a summary")
    run.add_argument("--date", type=iso_date, help="partition date (default: today in each product's SLO time zone)")
    run.add_argument("--product", action="append", help="only this product (repeatable)")
    run.add_argument("--with-upstream", action="store_true", help=UPSTREAM_HELP)
    run.set_defaults(handler=materialize)

    backfill = commands.add_parser("backfill", help="materialize every day from --start to --end (inclusive), as a Dagster backfill")
    backfill.add_argument("--start", type=iso_date, required=True)
    backfill.add_argument("--end", type=iso_date, required=True)
    backfill.add_argument("--product", action="append", help="only this product (repeatable)")
    backfill.add_argument("--with-upstream", action="store_true", help=UPSTREAM_HELP)
    backfill.set_defaults(handler=materialize)


def materialize(args: argparse.Namespace) -> int:
    import dagster as dg

    from ml_platform.batch import BatchInterrupted, date_range, describe_missing, missing_inputs, plan, run_batch
    from ml_platform.batch_outcomes import format_outcomes

    backfill = args.command == "backfill"
    days = date_range(args.start, args.end) if backfill else ([args.date] if args.date else None)
    ensure_local_home()
    location = CodeLocation.load(args.module)
    check_environment(location.defs)
    warn_about_price_sheet()
    runs = plan(location.defs, days, args.product, args.with_upstream)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        missing = missing_inputs(instance, location.defs, runs)
        if missing:
            fix = "backfill it" if backfill else "materialize it first"
            for line in describe_missing(location.defs, missing):
                print(f"ml-platform: {line}: {fix}, or pass --with-upstream", file=sys.stderr)
            return 2
        span = f"{days[0]}...{days[-1]}" if backfill else None
        try:
            outcomes = run_batch(
                location.defs,
                instance,
                runs,
                origin=location.origin,
                tags={"ml_platform/backfill": span} if backfill else None,
                backfill_title=f"ml-platform backfill {span}" if backfill else None,
                progress=lambda line: print(line, file=sys.stderr, flush=True),
            )
        except BatchInterrupted as stop:
            if stop.outcomes:
                print(format_outcomes(stop.outcomes))
            done = sum(o.ok for o in stop.outcomes)
            reason = "interrupted" if isinstance(stop.error, KeyboardInterrupt) else f"{type(stop.error).__name__}: {stop.error}"
            print(f"ml-platform: stopped ({reason}) after {done} table partition(s) ok; the table above is what was done", file=sys.stderr)
            return 130 if isinstance(stop.error, KeyboardInterrupt) else 1
    print(format_outcomes(outcomes))
    failed = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} assets materialized and passed their checks in {time.perf_counter() - started:.1f}s")
    if failed:
        runs = sorted({o.run_id for o in failed if o.run_id})
        print(f"Runs to look at (ml-platform ui, Runs tab; re-execute from there): {', '.join(runs)}" if runs else "")
    return 1 if failed else 0
