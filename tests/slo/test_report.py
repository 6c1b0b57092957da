"""The SLO attainment report from the command line and as an asset, on the real definitions."""

import dagster as dg
import pytest
from freezegun import freeze_time

from ml_platform.cli import main
from ml_platform.definitions import build_definitions
from ml_platform.slo.report import REPORT_ASSET, attainment, render_text
from tests.fixtures.slo_simulation import tokyo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def record_week(instance: dg.DagsterInstance) -> None:
    """article_recommendations: on time 03-01..03-06, 90 min late on 03-07."""
    for day in range(1, 8):
        when = tokyo(f"2026-03-0{day}", "07:00" if day < 7 else "09:30")
        with freeze_time(when):
            instance.report_runless_asset_event(dg.AssetMaterialization("article_recommendations", partition=f"2026-03-0{day}"))


def test_cli_prints_attainment_and_writes_a_png(dagster_home, tmp_path, capsys):
    with dg.DagsterInstance.get() as instance:
        record_week(instance)
    out = tmp_path / "slo.png"
    with freeze_time(tokyo("2026-03-08", "00:00")):
        assert main(["slo-report", "--days", "7", "--target", "0.9", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    line = next(text for text in printed.splitlines() if text.startswith("article_recommendations "))
    assert line.split()[1:8] == ["7", "85.7%", "1", "1", "0", "1h30m", "1h30m"]
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_report_rejects_a_target_outside_zero_and_one():
    with dg.instance_for_test() as instance, pytest.raises(ValueError, match="target must be between 0 and 1"):
        attainment(instance, build_definitions().resolve_asset_graph(), target=99)


def test_attainment_asset_shows_the_table_and_plot_in_the_ui():
    with dg.instance_for_test() as instance:
        record_week(instance)
        defs = build_definitions()
        with freeze_time(tokyo("2026-03-08", "00:00")):
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey(REPORT_ASSET)]
            )
        assert result.success
        metadata = result.asset_materializations_for_node(REPORT_ASSET)[0].metadata
        # 30 days: 6 on time, 1 late (90 min), 23 missed before the recorded week.
        assert "| article_recommendations | 30 | 20.0% | 24 | 1h30m | 1h30m | -23.7 |" in metadata["attainment"].value
        with open(metadata["plot"].value, "rb") as png:
            assert png.read(8) == PNG_MAGIC
        text = render_text(attainment(instance, defs.resolve_asset_graph(), days=7, now=tokyo("2026-03-08", "00:00")))
        assert "article_recommendations" in text
