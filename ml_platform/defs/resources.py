"""Resources of the example products (their synthetic data source); the platform adds its own."""

import dagster as dg

from ml_platform.resources.synthetic import SyntheticData


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"synthetic": SyntheticData()})
