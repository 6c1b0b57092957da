"""What a run needs from the environment, checked before any run starts: the environment variables
the code location's resources read (``ML_PLATFORM_ENV=production`` needs the GCP ones), and a
readable price sheet (without one, runs still land but record no cost)."""

import os
import sys

import dagster as dg


def _env_vars(value, seen: set[int] | None = None) -> set[str]:
    """Names of the ``EnvVar`` fields of a resource, nested resources included."""
    seen = seen if seen is not None else set()
    if isinstance(value, dg.EnvVar):
        return {value.env_var_name}
    if id(value) in seen or not hasattr(value, "model_fields"):
        return set()
    seen.add(id(value))
    return {name for field in type(value).model_fields for name in _env_vars(getattr(value, field, None), seen)}


def unset_env_vars(defs: dg.Definitions) -> dict[str, list[str]]:
    """{variable: resources reading it} for every unset variable a resource of ``defs`` reads."""
    unset: dict[str, list[str]] = {}
    for key, resource in sorted((defs.resources or {}).items()):
        for name in sorted(_env_vars(resource)):
            if not os.environ.get(name):
                unset.setdefault(name, []).append(key)
    return unset


def check_environment(defs: dg.Definitions) -> None:
    unset = unset_env_vars(defs)
    if unset:
        env = os.environ.get("ML_PLATFORM_ENV", "local")
        readers = sorted({r for rs in unset.values() for r in rs})
        raise ValueError(
            f"ML_PLATFORM_ENV={env}: set {', '.join(unset)} (read by the resources {', '.join(readers)})"
            + (", or unset ML_PLATFORM_ENV to run locally" if env != "local" else "")
        )


def warn_about_price_sheet() -> None:
    from ml_platform.compute.pricing import PriceSheetError, load_price_sheet

    try:
        load_price_sheet()
    except PriceSheetError as error:
        print(f"ml-platform: warning: {error}; these runs will record no cost", file=sys.stderr)
