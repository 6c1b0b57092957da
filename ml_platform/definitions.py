"""Assembles the code location. The environment is chosen here, once, when Dagster loads it."""

import dagster as dg

from ml_platform.assembly import assemble_definitions
from ml_platform.assets import all_assets
from ml_platform.resources.synthetic import SyntheticData


def current_env() -> str:
    """``ML_PLATFORM_ENV``: "local" (default) or "production"."""
    return dg.EnvVar("ML_PLATFORM_ENV").get_value("local")


def build_definitions(env: str | None = None) -> dg.Definitions:
    return assemble_definitions(all_assets(), env or current_env(), resources={"synthetic": SyntheticData()})


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
