"""The example products, one module (or subpackage) each; a team replaces them with its own.

Product modules are discovered, not listed: adding a product is adding a module here.
"""

import sys
from types import ModuleType

import dagster as dg


def all_assets(package: ModuleType | None = None) -> list[dg.AssetsDefinition]:
    """Every asset of the product modules under ``package`` (default: this package)."""
    return list(dg.load_assets_from_package_module(package or sys.modules[__name__]))
