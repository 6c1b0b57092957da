import subprocess
import sys
from pathlib import Path

import dagster as dg

from ml_platform.assets import all_assets
from ml_platform.declaration import PredictionTable, declarations, declared_specs
from ml_platform.definitions import defs as lazy_defs

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_with_no_environment_variables(monkeypatch, local_env):
    for name in ("ML_PLATFORM_ENV", "ML_PLATFORM_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    loaded = lazy_defs()
    assert isinstance(loaded, dg.Definitions)
    tables = [d for d in declarations(loaded.resolve_asset_graph()).values() if isinstance(d, PredictionTable)]
    declared_in_product_modules = [d for d in declared_specs(all_assets()).values() if isinstance(d, PredictionTable)]
    assert declared_in_product_modules
    assert {t.name for t in tables} == {t.name for t in declared_in_product_modules}


def test_production_definitions_load_without_cloud_access(monkeypatch, local_env):
    monkeypatch.setenv("ML_PLATFORM_ENV", "production")
    loaded = lazy_defs()
    assert type(loaded.resources["io_manager"]).__name__ == "AtomicBigQueryPandasIOManager"


def test_dagster_definitions_validate_passes(local_env):
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr
