"""The webserver's UI in headless Chromium, against the PostgreSQL-backed deployment.

Screenshots land in test-artifacts/ for review.
"""

import dagster as dg
import pytest

from ml_platform.checks.alerts import evaluations_since
from ml_platform.declaration import PredictionTable, declarations
from ml_platform.definitions import build_definitions
from tests.fixtures.browser import CHROMIUM, chromium_page, screenshot

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run scripts/ci_system_deps.sh (apt-get install chromium)"),
]
UI_TIMEOUT_MS = 60_000


def prediction_tables() -> list[str]:
    asset_graph = build_definitions("local").resolve_asset_graph()
    return sorted(key.to_user_string() for key, d in declarations(asset_graph).items() if d.KIND == PredictionTable.KIND)


def test_lineage_page_shows_every_prediction_table_node(deployment):
    names = prediction_tables()
    assert names
    with chromium_page(viewport=(1600, 2600)) as page:  # a tall screen: the graph draws only what is on it
        page.goto(f"{deployment.webserver_url}/asset-groups")
        page.get_by_text("Global asset lineage").first.wait_for(timeout=UI_TIMEOUT_MS)
        graph = page.locator("svg, [data-testid]").first
        graph.wait_for(timeout=UI_TIMEOUT_MS)
        # Large graphs open with product groups collapsed: expand them as a user would.
        page.get_by_text("propensity", exact=True).last.wait_for(timeout=UI_TIMEOUT_MS)
        page.mouse.click(1200, 900, button="right")
        page.locator("text=Expand all groups >> visible=true").click(timeout=UI_TIMEOUT_MS)
        for name in names:
            page.locator(f"text={name} >> visible=true").first.wait_for(timeout=UI_TIMEOUT_MS)
        screenshot(page, "lineage_prediction_tables")


def test_asset_page_shows_freshness_policy_and_latest_materialization(deployment):
    asset = "related_articles"  # materialized by the scheduled run of its product
    instance = deployment.instance()
    deployment.wait_until(lambda: instance.get_latest_materialization_event(dg.AssetKey(asset)), 300, f"{asset} to be materialized")
    with chromium_page() as page:
        page.goto(f"{deployment.webserver_url}/assets/{asset}")
        page.get_by_text("Freshness policy").first.wait_for(timeout=UI_TIMEOUT_MS)
        page.get_by_text("0 6 * * * Asia/Tokyo").first.wait_for(timeout=UI_TIMEOUT_MS)  # the declared SLO deadline
        assert page.get_by_text("Never materialized").count() == 0
        screenshot(page, "asset_related_articles_overview")


def test_asset_checks_tab_lists_the_tables_checks_and_their_passed_results(deployment):
    asset = dg.AssetKey("related_articles")  # its checks run after it in the scheduled run of its product
    check_keys = sorted(k for k in build_definitions("local").resolve_asset_graph().asset_check_keys if k.asset_key == asset)
    assert {"row_count_change", "row_count_decline", "score_range", "top_k_completeness"} <= {k.name for k in check_keys}
    instance = deployment.instance()
    evaluations = deployment.wait_until(
        lambda: (found := list({e.check: e for e in evaluations_since(instance, check_keys, {}, 0.0, 0.0)[0]}.values()))
        and len(found) == len(check_keys)
        and found,
        300,
        f"every check of {asset.to_user_string()} to be evaluated",
    )
    assert all(e.passed for e in evaluations), [(e.check, e.summary) for e in evaluations if not e.passed]
    with chromium_page() as page:
        page.goto(f"{deployment.webserver_url}/assets/{asset.to_user_string()}?view=checks")
        page.get_by_role("tab", name="Checks").first.wait_for(timeout=UI_TIMEOUT_MS)
        for key in check_keys:
            page.get_by_text(key.name, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
        # The list marks each check with its latest status; the selected check shows its result.
        page.get_by_text("Succeeded", exact=True).nth(len(check_keys) - 1).wait_for(timeout=UI_TIMEOUT_MS)
        assert page.get_by_text("Succeeded", exact=True).count() == len(check_keys)
        page.get_by_text("Passed", exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
        assert page.get_by_text("Not evaluated", exact=True).count() == 0
        assert page.get_by_text("Failed", exact=True).count() == 0
        screenshot(page, "asset_related_articles_checks")
