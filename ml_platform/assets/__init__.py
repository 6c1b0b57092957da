"""The example products. Each module is one product; a team replaces these with its own."""

import dagster as dg

from ml_platform.assets import article_recs, propensity, related_content

PRODUCT_MODULES = [related_content, article_recs, propensity]


def all_assets() -> list[dg.AssetsDefinition]:
    return list(dg.load_assets_from_modules(PRODUCT_MODULES))
