"""The synthetic catalog is a valid code location, and both flavours have the same shape."""

import dagster as dg
import pytest

from benchmarks import synthetic_catalog as catalog
from ml_platform.declaration import FeatureTable, Model, PredictionTable, declarations


@pytest.fixture
def small_catalog(monkeypatch, tmp_path):
    monkeypatch.setenv("ML_PLATFORM_SYNTH_PRODUCTS", "6")
    monkeypatch.setenv("ML_PLATFORM_SYNTH_TABLES_PER_PRODUCT", "8")
    monkeypatch.setenv("ML_PLATFORM_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))


PLATFORM_OWN_ASSETS = {dg.AssetKey(name) for name in ("slo_attainment_report", "cost_report", "prediction_health")}  # added by the assembly, not by the catalog


def graph_edges(defs: dg.Definitions) -> dict[dg.AssetKey, set[dg.AssetKey]]:
    graph = defs.resolve_asset_graph()
    return {node.key: set(node.parent_keys) for node in graph.asset_nodes if node.key not in PLATFORM_OWN_ASSETS}


def test_platform_catalog_declares_every_table_and_loads(small_catalog):
    defs = catalog.platform_defs()
    dg.Definitions.validate_loadable(defs)
    found = declarations(defs.resolve_asset_graph())
    assert len(found) == 6 * 8
    kinds = [d.KIND for d in found.values()]
    assert kinds.count(Model.KIND) == 6
    assert kinds.count(PredictionTable.KIND) == 6 * 2
    assert kinds.count(FeatureTable.KIND) == 6 * 5
    assert len([s for s in defs.schedules if s.name != "instance_history_purge"]) == 6  # one per product, and the platform's purge
    assert len({d.compute for d in found.values()}) >= 4  # profiles vary


def test_deadlines_share_freshness_policy_objects(small_catalog):
    graph = catalog.platform_defs().resolve_asset_graph()
    policies = {id(node.freshness_policy) for node in graph.asset_nodes if node.freshness_policy is not None}
    assert len(policies) <= 1 + 1 + len(catalog.PREDICTION_SLOS)


def test_some_predictions_read_another_products_features(small_catalog):
    found = declarations(catalog.platform_defs().resolve_asset_graph())
    edges = graph_edges(catalog.platform_defs())
    crossing = [
        (parent, key)
        for key, parents in edges.items()
        for parent in parents
        if found[parent].product != found[key].product
    ]
    assert crossing
    assert all(found[key].KIND == PredictionTable.KIND for _, key in crossing)


def test_plain_flavour_has_the_same_graph_and_checks(small_catalog):
    platform, plain = catalog.platform_defs(), catalog.plain_defs()
    dg.Definitions.validate_loadable(plain)
    assert graph_edges(plain) == graph_edges(platform)
    assert set(plain.resolve_asset_graph().asset_check_keys) == set(platform.resolve_asset_graph().asset_check_keys)
    assert not declarations(plain.resolve_asset_graph())


def test_plain_args_flavour_carries_the_platform_arguments_without_its_assembly(small_catalog):
    plain_args, platform = catalog.plain_args_defs(), catalog.platform_defs()
    dg.Definitions.validate_loadable(plain_args)
    assert graph_edges(plain_args) == graph_edges(platform)
    assert declarations(plain_args.resolve_asset_graph()) == declarations(platform.resolve_asset_graph())
    assert not plain_args.sensors and platform.sensors
