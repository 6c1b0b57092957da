"""The shape every platform report asset shares (SLO attainment, cost, prediction health): a
light asset in the ``platform`` group that reads the instance for every declared asset of the
code location it runs in."""

from collections.abc import Callable, Iterable, Mapping

import dagster as dg

from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import MLAsset, declarations, declared_specs

Declared = Mapping[dg.AssetKey, MLAsset]


def report_asset(
    name: str,
    description: str,
    catalog: Iterable[dg.AssetsDefinition],
    materialize: Callable[[dg.AssetExecutionContext, Declared], dg.MaterializeResult],
) -> dg.AssetsDefinition:
    """``materialize(context, declared)`` builds the report of the code location assembled from ``catalog``."""
    assembled = declared_specs(catalog)

    @dg.asset(
        name=name,
        group_name="platform",
        description=description,
        kinds={"matplotlib"},
        op_tags=PROFILES["light"].op_tags(),  # a cheap read of the instance: runs beside the run worker
    )
    def report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return materialize(context, code_location_declarations(context, assembled))

    return report


def code_location_declarations(context: dg.AssetExecutionContext, assembled: Declared) -> Declared:
    """Every declared asset of the code location the run belongs to. Runs launched from the UI, a
    schedule or the daemon carry the repository; a run executed in process (a script, a test) does
    not, and its subset job sees only the selected assets: then the catalog the report was
    assembled with."""
    try:
        return declarations(context.repository_def.asset_graph)
    except Exception:  # Dagster raises a bare invariant error when no repository is set
        return assembled
