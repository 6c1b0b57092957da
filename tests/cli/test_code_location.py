"""Report commands and the report asset work on the code location they run in, not on the examples."""

import json

import dagster as dg
import pytest

from ml_platform.assembly import assemble_definitions
from ml_platform.cli import main
from ml_platform.declaration import declarations
from ml_platform.slo.report import REPORT_ASSET
from tests.fixtures import slo_catalog

CATALOG_MODULE = "tests.fixtures.slo_catalog"
CATALOG_TABLES = {d.name for d in declarations(slo_catalog.defs.resolve_asset_graph()).values()}


@pytest.fixture
def team_project(local_env):
    """A project directory whose pyproject.toml names another code location."""
    (local_env / "pyproject.toml").write_text(f'[tool.dagster]\nmodule_name = "{CATALOG_MODULE}"\n')
    return local_env


def test_slo_report_command_reports_the_project_code_location(team_project, capsys):
    assert main(["slo-report", "--days", "2", "--out", str(team_project / "slo.png")]) == 0
    reported = {line.split()[0] for line in capsys.readouterr().out.splitlines()[2:] if line.strip() and not line.startswith("plot:")}
    assert reported == CATALOG_TABLES


def test_rightsize_command_takes_the_code_location_named_on_the_command_line(local_env, capsys):
    assert main(["--module", CATALOG_MODULE, "rightsize", "--json"]) == 0
    assert {r["asset"] for r in json.loads(capsys.readouterr().out)} == CATALOG_TABLES


def test_report_asset_run_in_process_reports_the_catalog_it_was_assembled_with(local_env):
    defs = assemble_definitions(slo_catalog.ASSETS, "local")
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(REPORT_ASSET)]
        )
    assert result.success
    table = result.asset_materializations_for_node(REPORT_ASSET)[0].metadata["attainment"].value
    rows = [row for row in table.splitlines() if row.startswith("|")][2:]  # after the header and its rule
    reported = {row.split("|")[1].strip() for row in rows}
    assert reported == CATALOG_TABLES


def test_a_module_without_definitions_is_a_clear_error(local_env, capsys):
    assert main(["--module", "ml_platform.declaration", "slo-report"]) == 2
    assert "module 'ml_platform.declaration': expected one Definitions" in capsys.readouterr().err
