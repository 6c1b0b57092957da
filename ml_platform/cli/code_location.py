"""Where a command works: the project (the folder holding ``pyproject.toml`` or ``.ml_platform``, found
from the current folder upwards), its local Dagster instance, and its code location: ``--module``, else the
module that the project's pyproject.toml names for Dagster (``[tool.dagster] module_name``, as ``dagster
dev`` reads it), else this project's."""

import difflib
import importlib
import os
import sys
import tomllib
import traceback
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster.components.definitions import LazyDefinitions  # what @dg.definitions returns

from ml_platform._dagster_internal import (
    ModuleTarget,
    ReconstructableRepository,
    RemoteRepositoryOrigin,
    WorkspaceFileTarget,
)
from ml_platform.batch_launch import RunOrigin

OWN_MODULE = "ml_platform.definitions"
LOCAL_INSTANCE_SETTINGS = Path(__file__).parents[1] / "local_dagster.yaml"
LOCAL_DIR = ".ml_platform"
WORKSPACE_FILE = "workspace.yaml"
REPOSITORY_NAME = "__repository__"  # the one repository Dagster makes of a Definitions object


def _tool_dagster(project_dir: Path) -> dict:
    pyproject = project_dir / "pyproject.toml"
    if not pyproject.exists():
        return {}
    return tomllib.loads(pyproject.read_text()).get("tool", {}).get("dagster", {})


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder, from ``start`` upwards, with a local instance or a ``[tool.dagster]`` pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / LOCAL_DIR).is_dir() or _tool_dagster(folder):
            return folder
    return None


def default_module(project_dir: Path | None = None) -> str:
    return _tool_dagster(project_dir or Path.cwd()).get("module_name") or OWN_MODULE


def _import(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise ValueError(
                f"module '{module_name}' not found (from --module or [tool.dagster] module_name in pyproject.toml): "
                "check the spelling, and that its package is installed in this environment"
            ) from None
        raise ValueError(f"module '{module_name}' cannot be imported: {error}") from None
    except ValueError:
        raise  # a bad declaration: already one line naming the table and the field
    except Exception as error:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if "site-packages" not in f.filename]
        where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        raise ValueError(f"module '{module_name}' failed to load: {type(error).__name__}: {_one_line(error)}{where}") from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _definitions_attribute(module_name: str) -> tuple[str, dg.Definitions]:
    module = _import(module_name)
    found = [(name, value) for name, value in vars(module).items() if isinstance(value, (dg.Definitions, LazyDefinitions))]
    if len(found) != 1:
        raise ValueError(f"module '{module_name}': expected one Definitions (or @dg.definitions function), found {len(found)}")
    name, value = found[0]
    try:
        defs = value() if isinstance(value, LazyDefinitions) else value
    except dg.DagsterInvalidDefinitionError as error:
        raise ValueError(f"module '{module_name}': {_one_line(error)}") from None
    try:
        defs.resolve_asset_graph()  # resolves every asset's inputs: a misspelled one fails here
    except dg.DagsterInvalidDefinitionError as error:
        raise ValueError(f"module '{module_name}': {_unknown_input(defs) or _one_line(error)}") from None
    return name, defs


def _unknown_input(defs: dg.Definitions) -> str | None:
    """The first asset input that names no asset, with the closest names (Dagster's own message spans lines)."""
    specs = [spec for a in defs.assets or [] for spec in getattr(a, "specs", [a]) if isinstance(spec, dg.AssetSpec)]
    known = {spec.key.to_user_string() for spec in specs}
    for spec in specs:
        for dep in spec.deps:
            name = dep.asset_key.to_user_string()
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(sorted(known))})"
                return f"asset '{spec.key.to_user_string()}' reads '{name}', which is not an asset here{hint}"
    return None


def load_code_location(module_name: str) -> dg.Definitions:
    """The module's Definitions: a ``Definitions`` object or a ``@dg.definitions`` function at top level."""
    return _definitions_attribute(module_name)[1]


# What earlier versions wrote: upgraded in place (a file someone edited is left alone).
EARLIER_SETTINGS = ("telemetry:\n  enabled: false\n", "telemetry:\n  enabled: false\nnux:\n  enabled: false\n")


@dataclass(frozen=True)
class CodeLocation:
    """A loaded code location, and how its runs name it: the location the UI loads (so the UI can
    re-execute them and run-status sensors see them) and the Python pointer that rebuilds its jobs."""

    module: str
    defs: dg.Definitions
    origin: RunOrigin

    @classmethod
    def load(cls, module_name: str, project_dir: Path | None = None) -> "CodeLocation":
        project_dir = (project_dir or Path.cwd()).resolve()
        attribute, defs = _definitions_attribute(module_name)
        repository = RemoteRepositoryOrigin(_location_origin(module_name, project_dir), REPOSITORY_NAME)
        return cls(module_name, defs, RunOrigin(repository, ReconstructableRepository.for_module(module_name, attribute, str(project_dir))))


def _workspace_origin(module_name: str, project_dir: Path):
    """The origin the project's workspace.yaml gives ``module_name`` (its location name), if it loads it."""
    path = project_dir / WORKSPACE_FILE
    if not path.exists():
        return None
    origins = WorkspaceFileTarget(paths=[str(path)]).create_origins()
    return next((o for o in origins if getattr(getattr(o, "loadable_target_origin", None), "module_name", None) == module_name), None)


def workspace_file_for(module_name: str, project_dir: Path) -> Path | None:
    """The project's workspace.yaml if it loads ``module_name`` (``ml-platform ui`` then serves it)."""
    return project_dir / WORKSPACE_FILE if _workspace_origin(module_name, project_dir) else None


def _location_origin(module_name: str, project_dir: Path):
    """The code-location origin `dagster dev` gives this module: from workspace.yaml, else ``-m module``."""
    return _workspace_origin(module_name, project_dir) or ModuleTarget(module_name, None, str(project_dir), None).create_origins()[0]


def enter_project() -> Path | None:
    """Work in the project that holds the current folder (as git does), so its instance, warehouse
    and code location are the ones used wherever in it a command starts. Returns the project folder."""
    root = project_root()
    if root is not None and root != Path.cwd().resolve():
        os.chdir(root)
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # a team's code location module in the project folder, as `dagster dev` finds it
    return root


def ensure_local_home(default: Path = Path(LOCAL_DIR) / "dagster_home") -> Path:
    """Point DAGSTER_HOME at the project's local instance (created on first use with the local
    settings, ``ml_platform/local_dagster.yaml``: telemetry and the UI's newsletter prompt off, a
    one-second run queue, tick retention).

    A new instance is announced on stderr: one made by mistake (a command run outside the
    project) is then seen, not mistaken for an empty history."""
    home = Path(os.environ.get("DAGSTER_HOME") or default).resolve()
    config = home / "dagster.yaml"
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        config.write_text(LOCAL_INSTANCE_SETTINGS.read_text())
        if not os.environ.get("DAGSTER_HOME"):
            print(f"ml-platform: new local Dagster instance in {home}", file=sys.stderr)
    elif config.read_text() in EARLIER_SETTINGS:
        config.write_text(LOCAL_INSTANCE_SETTINGS.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home
