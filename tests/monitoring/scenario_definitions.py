"""The scenario products as a code location (``ml-platform --module tests.monitoring.scenario_definitions ...``)."""

import dagster as dg

from ml_platform.assembly import assemble_definitions
from tests.monitoring.scenario_catalog import scenario_catalog


@dg.definitions
def defs() -> dg.Definitions:
    return assemble_definitions(scenario_catalog(), "local")
