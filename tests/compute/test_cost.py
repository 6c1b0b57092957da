"""Cost per materialization and the cost report, from real runs of the example products priced by a test sheet."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest
from freezegun import freeze_time

from ml_platform.cli import main
from ml_platform.compute.auto_memory import MEMORY_KEY
from ml_platform.compute.cost_report import REPORT_ASSET, cost_report, render_text, usd
from ml_platform.compute.pricing import (
    COST_BASIS_KEY,
    COST_ERROR_KEY,
    COST_ESTIMATE_KEY,
    COST_KEY,
    COST_RATE_KEY,
    PRICE_SHEET_ENV,
    PriceSheetError,
    as_paid,
    hourly_price,
    load_price_sheet,
)
from ml_platform.compute.profiles import PROFILES
from ml_platform.compute.step_usage import DURATION_KEY, OUTCOME_KEY, STARTUP_KEY
from ml_platform.declaration import declarations
from ml_platform.definitions import build_definitions
from tests.fixtures.price_sheets import TEST_PRICE_SHEET, write_price_sheet
from tests.fixtures.product_runs import DAY, run_products

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# USD per hour of each example profile under TEST_PRICE_SHEET, by hand from profiles.py:
HOURLY = {
    "small": 0.5 * 3600 + 1 * 1800,  # 0.5 vCPU, 1 GiB            = 3600
    "large": 4 * 3600 + 16 * 1800,  # 4 vCPU, 16 GiB              = 43200
    "gpu": 8 * 3600 + 32 * 1800 + 1 * 36000,  # 8 vCPU, 32 GiB, 1 GPU = 122400
    "sagemaker_training": 25200,  # 1 × ml.m5.xlarge
}


@pytest.fixture
def priced(local_env, monkeypatch):
    monkeypatch.setenv(PRICE_SHEET_ENV, str(write_price_sheet(local_env)))


def recorded(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Each asset's attempt record (step_usage) in the run."""
    return {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.asset_observation_data.asset_observation.metadata.items()}
        for e in result.get_asset_observation_events()
        if OUTCOME_KEY in e.asset_observation_data.asset_observation.metadata
    }


def seconds(values: dict) -> float:
    return values[DURATION_KEY] + values.get(STARTUP_KEY, 0.0)


def test_each_step_attempt_costs_its_profile_requests_times_its_wall_time(priced):
    defs = build_definitions("local")
    declared = {k.to_user_string(): d for k, d in declarations(defs.resolve_asset_graph()).items()}
    with dg.instance_for_test() as instance:
        result = run_products(defs, instance, DAY, *declared)
    assert result.success
    metadata = recorded(result)
    assert set(metadata) == set(declared)
    for asset, values in metadata.items():
        hourly = HOURLY[declared[asset].compute]
        assert values[COST_RATE_KEY] == hourly, asset
        assert values[COST_KEY] == round(hourly * seconds(values) / 3600, 6), asset
        assert values[COST_BASIS_KEY].endswith(f"= ${hourly:.4f}/h × {seconds(values):g} s") or "sagemaker" in values[COST_BASIS_KEY]
        # Locally every step is a local process: a Kubernetes or SageMaker price is an estimate.
        assert values[COST_ESTIMATE_KEY] is (declared[asset].compute != "light") and values[COST_BASIS_KEY].startswith("estimate, ran locally")
    assert any(v[COST_KEY] > 0 for v in metadata.values()), "the test sheet's prices make the examples' steps cost something"
    assert "1 × ml.m5.xlarge × $25200/h" in metadata["propensity_model"][COST_BASIS_KEY]
    assert "8 vCPU × $3600 + 32 GiB × $1800 + 1 GPU × $36000" in metadata["article_recs_model"][COST_BASIS_KEY]


def test_the_size_automatic_memory_chose_is_what_is_priced(tmp_path):
    sheet = load_price_sheet(write_price_sheet(tmp_path))
    on_sagemaker = as_paid(PROFILES["sagemaker_training"], {MEMORY_KEY: "32Gi"})
    assert on_sagemaker.options.instance_type == "ml.m5.2xlarge"
    assert hourly_price(on_sagemaker, sheet).usd_per_hour == 50400
    assert hourly_price(as_paid(PROFILES["large"], {MEMORY_KEY: "4Gi"}), sheet).usd_per_hour == 4 * 3600 + 4 * 1800
    assert hourly_price(PROFILES["large"], sheet, "spot").usd_per_hour == 4 * 1200 + 16 * 600


def test_a_bad_price_sheet_names_the_field_and_never_fails_a_step(local_env, monkeypatch, capsys):
    bad = write_price_sheet(local_env, TEST_PRICE_SHEET.replace("gib_hour = 1800", 'gib_hour = "cheap"'))
    with pytest.raises(PriceSheetError, match=r"field 'kubernetes.on_demand.gib_hour': expected a non-negative number"):
        load_price_sheet(bad)
    missing = write_price_sheet(local_env, TEST_PRICE_SHEET.replace('"ml.m5.xlarge" = 25200\n', ""), "missing.toml")
    with pytest.raises(PriceSheetError, match=r"""field 'sagemaker.instance_hour."ml.m5.xlarge"': missing"""):
        hourly_price(PROFILES["sagemaker_training"], load_price_sheet(missing))

    monkeypatch.setenv(PRICE_SHEET_ENV, str(bad))
    with dg.instance_for_test() as instance:
        result = run_products(build_definitions("local"), instance, DAY, "user_features")
    assert result.success, "the table is written; only its cost is missing"
    values = recorded(result)["user_features"]
    assert COST_KEY not in values and "kubernetes.on_demand.gib_hour" in values[COST_ERROR_KEY]
    assert main(["cost", "--days", "3"]) == 2
    assert "field 'kubernetes.on_demand.gib_hour'" in capsys.readouterr().err

    # With the sheet fixed, the report lists the run it could not price, with a warning line.
    monkeypatch.setenv(PRICE_SHEET_ENV, str(write_price_sheet(local_env, name="good.toml")))
    with dg.instance_for_test() as instance:
        run_products(build_definitions("local"), instance, DAY, "user_features")
        monkeypatch.setenv(PRICE_SHEET_ENV, str(bad))
        run_products(build_definitions("local"), instance, DAY, "user_features")
        monkeypatch.setenv(PRICE_SHEET_ENV, str(local_env / "good.toml"))
        report = cost_report(instance, declarations(build_definitions("local").resolve_asset_graph()), days=3,
                             now=datetime.fromisoformat(DAY).replace(tzinfo=timezone.utc))
    assert report.runs["user_features"] == 2 and report.attempts["user_features"] == 1
    assert len(report.unpriced["user_features"]) == 1
    assert report.warning().startswith("warning: 1 of 2 step attempts could not be priced and are left out of the totals (user_features:")
    assert "1 unpriced" in render_text(report) and report.warning() in render_text(report)


def test_cost_report_per_table_product_and_day_from_two_days_of_runs(priced, tmp_path, capsys):
    defs = build_definitions("local")
    declared = {k.to_user_string(): d for k, d in declarations(defs.resolve_asset_graph()).items()}
    today = datetime.now(timezone.utc).date()
    costs: dict[tuple[str, date], float] = {}  # (table, day of data) -> USD
    with dg.DagsterInstance.get() as instance:
        for day in (today - timedelta(days=1), today):
            result = run_products(defs, instance, day.isoformat(), *declared)
            assert result.success
            for asset, values in recorded(result).items():
                # A daily table's cost counts for its partition; a model (unpartitioned) for the day it ran.
                counted = day if declared[asset].partitions_def else today
                costs[asset, counted] = costs.get((asset, counted), 0.0) + values[COST_KEY]
        by_table = cost_report(instance, declarations(defs.resolve_asset_graph()), days=3)
        by_product = cost_report(instance, declarations(defs.resolve_asset_graph()), days=3, by="product")

    assert by_table.days == [today - timedelta(days=2), today - timedelta(days=1), today]
    for asset in declared:
        assert by_table.runs[asset] == by_table.attempts[asset] == 2, asset
        assert by_table.total(asset) == pytest.approx(sum(c for (a, _), c in costs.items() if a == asset))
        # Per day counts the days since the table's first materialization, not the days before it existed.
        days = 2 if declared[asset].partitions_def else 1
        assert by_table.per_day(asset) == pytest.approx(by_table.total(asset) / days)
    for product in {d.product for d in declared.values()}:
        expected = sum(cost for (asset, _), cost in costs.items() if declared[asset].product == product)
        assert by_product.total(product) == pytest.approx(expected)
    for day in by_table.days:
        assert by_table.day_total(day) == pytest.approx(sum(c for (_, d), c in costs.items() if d == day))
    assert by_table.day_total(today - timedelta(days=2)) == 0 < by_table.day_total(today)

    out = tmp_path / "cost.png"
    assert main(["cost", "--days", "3", "--by", "product", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for product in {d.product for d in declared.values()}:
        line = next(text for text in printed.splitlines() if text.startswith(product + " "))
        assert line.split()[1:4] == [str(by_product.runs[product]), str(by_product.attempts[product]), usd(by_product.total(product))]
    assert "estimate: ran as local processes, priced as the declared backend would charge" in printed
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_cost_report_asset_shows_the_table_and_plot(priced):
    defs = build_definitions("local")
    with dg.instance_for_test() as instance:
        run_products(defs, instance, DAY, "user_features")
        with freeze_time(datetime(2026, 3, 10, 12, tzinfo=timezone.utc)):
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey(REPORT_ASSET)]
            )
            cost = instance.fetch_observations(dg.AssetKey("user_features"), limit=1).records[0]
        assert result.success
        metadata = result.asset_materializations_for_node(REPORT_ASSET)[0].metadata
        assert open(metadata["plot file"].value, "rb").read(8) == PNG_MAGIC
        assert "data:image/png;base64," in metadata["plot"].value  # shown on the materialization
    spent = cost.asset_observation.metadata[COST_KEY].value
    assert spent > 0 and metadata["total USD"].value == pytest.approx(spent) and metadata["unpriced"].value == 0
    assert f"| user_features | 1 | 1 | {usd(spent)} |" in metadata["cost"].value
