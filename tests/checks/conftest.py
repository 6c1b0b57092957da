"""The example products with their quality checks, on the local warehouse."""

import dagster as dg
import pytest

from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.declaration import declared_specs
from ml_platform.definitions import product_assets
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.warehouse import warehouse_resources


@pytest.fixture
def product_defs(warehouse) -> dg.Definitions:
    assets = product_assets()
    return dg.Definitions(
        assets=assets,
        asset_checks=build_quality_checks(declared_specs(assets)),
        resources={**warehouse_resources("local"), "synthetic": SyntheticData()},
    )
