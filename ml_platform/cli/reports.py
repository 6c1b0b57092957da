"""``ml-platform slo-report``, ``cost``, ``prediction-health`` and ``rightsize``: reports on the code location's declared assets."""

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from ml_platform.cli.arguments import fraction, non_negative_float, positive_int
from ml_platform.cli.code_location import ensure_local_home, load_code_location
from ml_platform.report_asset import LOCAL_REPORTS


def add_commands(commands: argparse._SubParsersAction) -> None:
    slo = commands.add_parser("slo-report", help="SLO attainment per table over the last N days, with a plot")
    slo.add_argument("--days", type=positive_int, default=30, help="look back this many days (default 30)")
    slo.add_argument("--target", type=fraction, default=0.99, help="on-time target, e.g. 0.99")
    slo.add_argument("--out", type=Path, default=LOCAL_REPORTS / "slo_attainment.png", help=f"PNG to write (default {LOCAL_REPORTS}/slo_attainment.png)")
    slo.set_defaults(handler=slo_report)

    cost = commands.add_parser("cost", help="cost per table or product and per day over the last N days, with a plot")
    cost.add_argument("--days", type=positive_int, default=7, help="look back this many days, today included (default 7)")
    cost.add_argument("--by", choices=("table", "product"), default="table", help="group by table (default) or product")
    cost.add_argument("--out", type=Path, default=LOCAL_REPORTS / "cost.png", help=f"PNG to write (default {LOCAL_REPORTS}/cost.png)")
    cost.set_defaults(handler=cost_command)

    health = commands.add_parser(
        "prediction-health", help="drift, coverage and delayed-label performance per prediction table, with PNG plots"
    )
    health.add_argument("--days", type=positive_int, default=30, help="look back this many days (default 30)")
    health.add_argument(
        "--out-dir", type=Path, default=LOCAL_REPORTS / "prediction_health", help=f"directory for one PNG per table (default {LOCAL_REPORTS}/prediction_health)"
    )
    health.set_defaults(handler=prediction_health_command)

    pin = commands.add_parser(
        "pin-reference", help="pin a prediction table's drift and coverage reference: from a partition on, its partitions are the known good"
    )
    pin.add_argument("table", help="the prediction table (asset key)")
    pin.add_argument("--since", default=None, help="first partition of the reference, YYYY-MM-DD (default: the newest materialized)")
    pin.set_defaults(handler=pin_reference_command)

    rightsize = commands.add_parser("rightsize", help="per asset, the smallest profile that fits its observed p95 peak memory")
    rightsize.add_argument("--history", type=positive_int, default=30, help="materializations per asset to look at (default 30)")
    rightsize.add_argument("--margin", type=non_negative_float, default=0.25, help="headroom over the p95 peak (default 0.25 = 25%%)")
    rightsize.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rightsize.set_defaults(handler=rightsize_command)


def slo_report(args: argparse.Namespace) -> int:
    """Print attainment from the instance at $DAGSTER_HOME, write a PNG."""
    import dagster as dg

    from ml_platform.slo.report import attainment, plot, render_text

    ensure_local_home()
    asset_graph = load_code_location(args.module).resolve_asset_graph()
    with dg.DagsterInstance.get() as instance:
        report = attainment(instance, asset_graph, days=args.days, target=args.target)
    print(render_text(report))
    print(f"plot: {plot(report, args.out)}")
    return 0


def cost_command(args: argparse.Namespace) -> int:
    """Print cost from the instance at $DAGSTER_HOME (prices: $ML_PLATFORM_PRICE_SHEET), write a PNG."""
    import dagster as dg

    from ml_platform.compute.cost_report import cost_report, plot, render_text
    from ml_platform.declaration import declarations

    ensure_local_home()
    declared = declarations(load_code_location(args.module).resolve_asset_graph())
    with dg.DagsterInstance.get() as instance:
        report = cost_report(instance, declared, days=args.days, by=args.by)
    print(render_text(report))
    print(f"plot: {plot(report, args.out)}")
    return 0


def prediction_health_command(args: argparse.Namespace) -> int:
    """Print the report from the instance at $DAGSTER_HOME, write one PNG per table."""
    import dagster as dg

    from ml_platform.monitoring.health import plot_tables, prediction_health, render_text

    ensure_local_home()
    asset_graph = load_code_location(args.module).resolve_asset_graph()
    with dg.DagsterInstance.get() as instance:
        report = prediction_health(instance, asset_graph, days=args.days)
    print(render_text(report))
    paths = plot_tables(report, args.out_dir)
    print(f"plots: {len(paths)} PNG file(s) in {args.out_dir}")
    return 0


def pin_reference_command(args: argparse.Namespace) -> int:
    """Pin on the instance at $DAGSTER_HOME; the table's next check compares with the new reference."""
    import getpass

    import dagster as dg

    from ml_platform.checks.prediction_monitoring import monitoring_of
    from ml_platform.declaration import declarations
    from ml_platform.monitoring.reference_store import pin_reference

    ensure_local_home()
    key = dg.AssetKey.from_user_string(args.table)
    declared = declarations(load_code_location(args.module).resolve_asset_graph())
    if key not in declared or monitoring_of(declared[key]) is None:
        monitored = sorted(k.to_user_string() for k, d in declared.items() if monitoring_of(d))
        raise ValueError(f"'{args.table}' is not a monitored prediction table of this code location (monitored: {', '.join(monitored) or 'none'})")
    with dg.DagsterInstance.get() as instance:
        pin = pin_reference(instance, key, args.since, by=f"{getpass.getuser()} (ml-platform pin-reference)")
    print(f"{args.table}: reference {pin.describe()}; the next check compares with it")
    return 0


def rightsize_command(args: argparse.Namespace) -> int:
    """Exit 1 when an asset is under-provisioned (its p95 peak with margin exceeds its profile)."""
    import dagster as dg

    from ml_platform.compute.rightsizing import UNDER, format_table, recommend_all

    ensure_local_home()
    defs = load_code_location(args.module)
    with dg.DagsterInstance.get() as instance:  # $DAGSTER_HOME, as the UI and daemon use
        recommendations = recommend_all(defs, instance, args.history, args.margin)
    print(json.dumps([asdict(r) for r in recommendations], indent=2) if args.json else format_table(recommendations))
    return 1 if any(r.verdict == UNDER for r in recommendations) else 0
