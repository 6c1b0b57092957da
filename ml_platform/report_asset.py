"""The shape every platform report asset shares (SLO attainment, cost, prediction health): a
light asset in the ``platform`` group that reads the instance for every declared asset of the
code location it runs in, and shows its plots on the materialization itself.

Plots are written under the instance's storage directory (``.ml_platform/dagster_home/storage``
locally, never the working directory) and embedded in the materialization's metadata as images,
as the drift check embeds its plot: the UI shows them wherever the webserver runs. The CLI writes
its copies under ``.ml_platform/reports`` (``LOCAL_REPORTS``) unless told otherwise.
"""

import base64
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg

from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import Catalog, declarations

Declared = Catalog
LOCAL_REPORTS = Path(".ml_platform") / "reports"  # the CLI's default output directory
MAX_EMBEDDED = 8  # plots embedded in one materialization (each ~30 KB); the rest stay on disk


def report_asset(
    name: str,
    description: str,
    catalog: Declared,
    materialize: Callable[[dg.AssetExecutionContext, Declared], dg.MaterializeResult],
) -> dg.AssetsDefinition:
    """``materialize(context, declared)`` builds the report of the code location assembled from ``catalog``."""
    assembled = catalog

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


def report_directory(context: dg.AssetExecutionContext) -> Path:
    """Where a report asset writes its files: under the instance's storage directory."""
    return Path(context.instance.storage_directory()) / "reports"


def embedded_plots(paths: Sequence[Path], caption: str) -> dg.MetadataValue:
    """PNGs shown inline on the materialization (markdown images with data URIs)."""
    shown = [f"![{caption} {Path(p).stem}](data:image/png;base64,{base64.b64encode(Path(p).read_bytes()).decode()})" for p in paths[:MAX_EMBEDDED]]
    if len(paths) > MAX_EMBEDDED:
        shown.append(f"{len(paths) - MAX_EMBEDDED} more in {Path(paths[0]).parent}")
    return dg.MetadataValue.md("\n\n".join(shown) or "no plot")
