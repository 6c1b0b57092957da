"""A local warehouse, the example products with their quality checks, and injected histories."""

from datetime import date, timedelta

import dagster as dg
import pytest

from ml_platform.assets import all_assets
from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.warehouse import warehouse_resources

DAY = "2026-03-10"


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    return tmp_path


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def product_defs(warehouse) -> dg.Definitions:
    assets = all_assets()
    return dg.Definitions(
        assets=assets,
        asset_checks=build_quality_checks(assets),
        resources={**warehouse_resources("local"), "synthetic": SyntheticData()},
    )


def previous_days(day: str, count: int) -> list[str]:
    start = date.fromisoformat(day)
    return [(start - timedelta(days=i)).isoformat() for i in range(count, 0, -1)]


def inject_history(instance: dg.DagsterInstance, asset: str, rows: list[int], before: str = DAY) -> None:
    """Record one materialization per earlier day, as the IO manager would have (row count only)."""
    for partition, count in zip(previous_days(before, len(rows)), rows):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset, partition=partition, metadata={"dagster/partition_row_count": count})
        )


def run_products(defs: dg.Definitions, instance, partition: str, *assets: str) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    selection = [dg.AssetKey(a) for a in assets] if assets else None
    return job.execute_in_process(partition_key=partition, instance=instance, asset_selection=selection, raise_on_error=False)


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {
        (e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name): e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
