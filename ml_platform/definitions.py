"""The code location: the product modules of ``ml_platform/defs/``, loaded by Dagster's own loader,
with the platform's policy applied (``assembly``). The environment is chosen here, once, when
Dagster loads it."""

import warnings
from pathlib import Path
from types import ModuleType

import dagster as dg

from ml_platform.assembly import apply_platform_policy


def current_env() -> str:
    """``ML_PLATFORM_ENV``: "local" (default) or "production"."""
    return dg.EnvVar("ML_PLATFORM_ENV").get_value("local")


def product_definitions(defs_module: ModuleType | None = None) -> dg.Definitions:
    """What the product modules define, loaded as Dagster loads a defs folder (default: ``ml_platform.defs``).

    Not ``dg.load_from_defs_folder``: it finds the folder through ``pyproject.toml``, which an
    installed package (the code-location image) does not have, and its root adds the JSON of every
    installed component type (it imports dagster_aws and dagster_gcp: about 1 s per load, in every
    run worker and step container). The folder's tree is the same; it stays attached for ``dg``.
    """
    if defs_module is None:
        import ml_platform.defs as defs_module
    folder = Path(defs_module.__path__[0])
    tree = dg.ComponentTree.from_module(defs_module=defs_module, project_root=folder.parents[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # Dagster marks its module loader a preview
        loaded = tree.build_defs(folder)
    return dg.Definitions.merge(loaded, dg.Definitions(component_tree=tree))


def product_assets() -> list[dg.AssetsDefinition]:
    """Every asset the product modules define (tests, scripts)."""
    return [a for a in product_definitions().assets or [] if isinstance(a, dg.AssetsDefinition)]


def build_definitions(env: str | None = None) -> dg.Definitions:
    return apply_platform_policy(product_definitions(), env or current_env())


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
