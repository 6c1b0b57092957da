"""The code location a command works on: ``--module``, else the module that ./pyproject.toml names
for Dagster (``[tool.dagster] module_name``, as ``dagster dev`` reads it), else this project's."""

import importlib
import os
import tomllib
from pathlib import Path

import dagster as dg
from dagster.components.definitions import LazyDefinitions  # what @dg.definitions returns

OWN_MODULE = "ml_platform.definitions"
LOCAL_INSTANCE_SETTINGS = Path(__file__).parents[1] / "local_dagster.yaml"


def default_module(project_dir: Path | None = None) -> str:
    pyproject = (project_dir or Path.cwd()) / "pyproject.toml"
    if pyproject.exists():
        configured = tomllib.loads(pyproject.read_text()).get("tool", {}).get("dagster", {}).get("module_name")
        if configured:
            return configured
    return OWN_MODULE


def load_code_location(module_name: str) -> dg.Definitions:
    """The module's Definitions: a ``Definitions`` object or a ``@dg.definitions`` function at top level."""
    module = importlib.import_module(module_name)
    found = [
        value() if isinstance(value, LazyDefinitions) else value
        for value in vars(module).values()
        if isinstance(value, (dg.Definitions, LazyDefinitions))
    ]
    if len(found) != 1:
        raise ValueError(f"module '{module_name}': expected one Definitions (or @dg.definitions function), found {len(found)}")
    return found[0]


# What earlier versions wrote: upgraded in place (a file someone edited is left alone).
EARLIER_SETTINGS = ("telemetry:\n  enabled: false\n", "telemetry:\n  enabled: false\nnux:\n  enabled: false\n")


def ensure_local_home(default: Path = Path(".ml_platform") / "dagster_home") -> Path:
    """Point DAGSTER_HOME at the project's local instance (created on first use with the local
    settings, ``ml_platform/local_dagster.yaml``: telemetry and the UI's newsletter prompt off, a
    one-second run queue, tick retention)."""
    home = Path(os.environ.get("DAGSTER_HOME") or default).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() in EARLIER_SETTINGS:
        config.write_text(LOCAL_INSTANCE_SETTINGS.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home
