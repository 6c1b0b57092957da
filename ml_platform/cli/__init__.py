"""``ml-platform``: run the products locally, backfill a date range, open the UI, report SLOs, right-size compute.

Everything runs against the project's local Dagster instance under ``.ml_platform/dagster_home``
(telemetry off) unless DAGSTER_HOME is set, so the UI shows the runs these commands made, and on
the code location of the project (``--module`` overrides it). The project is the folder, from the
current one upwards, that holds ``.ml_platform`` or a pyproject.toml with ``[tool.dagster]``.
"""

import sys
import warnings
from pathlib import Path

from ml_platform.cli import products, reports, ui
from ml_platform.cli.arguments import OneLineParser
from ml_platform.cli.code_location import default_module, enter_project


def parser() -> OneLineParser:
    root = OneLineParser(prog="ml-platform", description=__doc__.splitlines()[0])
    root.add_argument(
        "--module", default=None, help="Python module of the code location (default: [tool.dagster] module_name in ./pyproject.toml)"
    )
    commands = root.add_subparsers(dest="command", required=True)
    products.add_commands(commands)
    ui.add_commands(commands)
    reports.add_commands(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="dagster")
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    for name, value in vars(args).items():  # paths the user typed are relative to where they typed them
        if isinstance(value, Path):
            setattr(args, name, value.resolve())
    enter_project()
    args.module = args.module or default_module()
    try:
        return args.handler(args)
    except ValueError as error:
        print(f"ml-platform: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
