import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ml_platform.declaration import PredictionTable, declarations, declared_specs
from ml_platform.definitions import defs as lazy_defs
from ml_platform.definitions import product_assets

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_with_no_environment_variables(monkeypatch, local_env):
    for name in ("ML_PLATFORM_ENV", "ML_PLATFORM_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    loaded = lazy_defs()
    assert isinstance(loaded, dg.Definitions)
    tables = [d for d in declarations(loaded.resolve_asset_graph()).values() if isinstance(d, PredictionTable)]
    declared_in_product_modules = [d for d in declared_specs(product_assets()).values() if isinstance(d, PredictionTable)]
    assert declared_in_product_modules
    assert {t.name for t in tables} == {t.name for t in declared_in_product_modules}


def test_production_definitions_load_without_cloud_access(monkeypatch, local_env):
    monkeypatch.setenv("ML_PLATFORM_ENV", "production")
    loaded = lazy_defs()
    assert type(loaded.resources["io_manager"]).__name__ == "AtomicBigQueryPandasIOManager"


def test_the_code_servers_snapshot_of_each_environment_serializes(monkeypatch, local_env):
    """What a code server sends the webserver and the daemon (which run Dagster's image, without
    this package): a custom automation condition that reached it would fail the location's load."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster_shared.serdes import deserialize_value, serialize_value

    for env in ("local", "production"):
        monkeypatch.setenv("ML_PLATFORM_ENV", env)
        snap = RepositorySnap.from_def(lazy_defs().get_repository_def())
        restored = deserialize_value(serialize_value(snap), RepositorySnap)
        conditions = {n.asset_key: n.automation_condition_snapshot for n in restored.asset_nodes if n.automation_condition_snapshot}
        assert dg.AssetKey("article_recommendations") in conditions  # launched on data: shown as a snapshot


INSTALLED_LOAD = """
import json, sys
import ml_platform
from ml_platform.definitions import build_definitions
defs = build_definitions()
print(json.dumps({"package": ml_platform.__file__, "io_manager": type(defs.resources["io_manager"]).__name__,
                  "assets": sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())}))
"""


def test_production_loads_the_product_modules_from_an_installed_package_with_no_pyproject(tmp_path, local_env):
    # As in the code-location image: the package on the path, no pyproject.toml above it, an environment
    # holding only what the image sets.
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "ml_platform", site / "ml_platform", ignore=shutil.ignore_patterns("__pycache__"))
    assert not any((folder / "pyproject.toml").exists() for folder in site.parents)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(site), "HOME": str(tmp_path), "ML_PLATFORM_ENV": "production",
           "DAGSTER_HOME": os.environ["DAGSTER_HOME"]}
    done = subprocess.run([sys.executable, "-c", INSTALLED_LOAD], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["package"].startswith(str(site))
    assert loaded["io_manager"] == "AtomicBigQueryPandasIOManager"
    products = {spec.key.to_user_string() for a in product_assets() for spec in a.specs}
    assert products and products <= set(loaded["assets"])


def test_dagster_definitions_validate_passes(local_env):
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


# Statistics, training, plotting and cloud-client libraries: imported where they are used, never by a load.
HEAVY_MODULES = ("scipy", "sklearn", "matplotlib", "kubernetes", "dagster_k8s", "google.cloud", "dagster_gcp", "boto3")
LOAD_AND_LIST_MODULES = """
import json, sys
from ml_platform.definitions import build_definitions
defs = build_definitions(sys.argv[1])
defs.get_repository_def().get_all_jobs()  # what a code server or run worker resolves at load
print(json.dumps(sorted(sys.modules)))
"""


def test_loading_the_code_location_imports_no_heavy_library(local_env):
    # A fresh interpreter: other tests in this process have imported these libraries already.
    for env in ("local", "production"):
        done = subprocess.run([sys.executable, "-c", LOAD_AND_LIST_MODULES, env], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
        allowed = {"dagster_gcp", "google.cloud"} if env == "production" else set()  # its warehouse: BigQuery and GCS
        assert {name for name in HEAVY_MODULES if name in loaded} <= allowed, env
