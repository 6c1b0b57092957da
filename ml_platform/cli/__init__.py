"""``ml-platform``: run the products locally, backfill a date range, open the UI, report SLOs, right-size compute.

Everything runs against a local Dagster instance under ``.ml_platform/dagster_home``
(telemetry off) unless DAGSTER_HOME is set, so the UI shows the runs these commands made.
"""

import argparse
import importlib
import os
import sys
import time
import warnings
from datetime import date
from pathlib import Path

LOCAL_HOME = Path(".ml_platform") / "dagster_home"
# Commands with their own argument parsers, run against the same local instance.
DELEGATED = {
    "rightsize": ("ml_platform.compute.rightsizing:main_rightsize", "recommend a compute profile per asset from observed peak memory"),
    "slo-report": ("ml_platform.slo.report:main_slo_report", "SLO attainment per table over the last N days, with a plot"),
}
LOCAL_INSTANCE_YAML = """\
telemetry:
  enabled: false
"""


def ensure_local_home() -> Path:
    """Point DAGSTER_HOME at the project's local instance (created on first use)."""
    home = Path(os.environ.get("DAGSTER_HOME") or LOCAL_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _run(args: argparse.Namespace) -> int:
    import dagster as dg

    from ml_platform.batch import date_range, format_outcomes, run_days
    from ml_platform.definitions import build_definitions

    ensure_local_home()
    defs = build_definitions()
    if args.command == "run":
        days = [args.date] if args.date else None
    else:
        days = date_range(args.start, args.end)
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


def _ui(args: argparse.Namespace) -> int:
    home = ensure_local_home()
    print(f"Dagster UI on http://localhost:{args.port} (instance: {home})", flush=True)
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").exists() else ["-m", "ml_platform.definitions"]
    # The interpreter running us has dagster installed, whether or not its venv is activated.
    os.execv(sys.executable, [sys.executable, "-m", "dagster", "dev", *target, "-p", str(args.port)])


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ml-platform", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="materialize today's partition of every product and print a summary")
    run.add_argument("--date", type=date.fromisoformat, help="partition date (default: today in each product's SLO time zone)")
    run.add_argument("--product", action="append", help="only this product (repeatable)")
    run.set_defaults(handler=_run)

    backfill = commands.add_parser("backfill", help="materialize every day from --start to --end (inclusive), one run per product and day")
    backfill.add_argument("--start", type=date.fromisoformat, required=True)
    backfill.add_argument("--end", type=date.fromisoformat, required=True)
    backfill.add_argument("--product", action="append", help="only this product (repeatable)")
    backfill.set_defaults(handler=_run)

    ui = commands.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on the local instance")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=_ui)

    for name, (_, help_text) in DELEGATED.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return root


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="dagster")
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        ensure_local_home()
        module, function = DELEGATED[argv[0]][0].split(":")
        return getattr(importlib.import_module(module), function)(argv[1:])
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as error:
        print(f"ml-platform: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
