"""The example code location as it was before ranged backfills: no backfill policy on any asset,
so a backfill is one run per product and day. The baseline side of ``benchmarks.backfill_timeline``."""

import dagster as dg

from ml_platform.definitions import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    platform = build_definitions()
    assets = [
        dg.AssetsDefinition.dagster_internal_init(**{**a.get_attributes_dict(), "backfill_policy": None})
        if isinstance(a, dg.AssetsDefinition) and a.backfill_policy is not None else a
        for a in platform.assets
    ]
    return dg.Definitions(
        assets=assets, asset_checks=platform.asset_checks, schedules=platform.schedules, sensors=platform.sensors,
        resources=platform.resources, executor=platform.executor,
    )
