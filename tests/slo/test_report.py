"""The SLO attainment report from the command line and as an asset, on the real definitions."""

import base64
import re
from pathlib import Path

import dagster as dg
import pytest
from freezegun import freeze_time

from ml_platform.cli import main
from ml_platform.definitions import build_definitions
from ml_platform.slo.report import REPORT_ASSET, attainment
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


def test_cli_writes_its_plot_under_the_local_home_not_the_working_directory(dagster_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["slo-report", "--days", "7"]) == 0
    assert (tmp_path / ".ml_platform" / "reports" / "slo_attainment.png").read_bytes().startswith(PNG_MAGIC)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".png"] == []


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
        # 30 days, but the table began on 03-01: 6 on time, 1 late (90 min); the 23 days before count for nothing.
        assert "| article_recommendations | 7 | 85.7% | 1 | 1h30m | 1h30m | -0.9 |" in metadata["attainment"].value
        assert "| propensity_scores | 0 | - | 0 | - | - | +0.0 |" in metadata["attainment"].value  # never materialized
        # The plot is on the materialization itself (the UI shows it wherever it runs), the file under the instance.
        [image] = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", metadata["plot"].value)
        assert base64.b64decode(image).startswith(PNG_MAGIC)
        assert Path(metadata["plot file"].value).is_relative_to(instance.storage_directory())


def test_a_landing_after_the_next_deadline_is_a_miss_not_a_lateness_of_days():
    """The weekly model (Mondays 06:00 Tokyo) trained on 03-02, then only on Tuesday 03-17."""
    with dg.instance_for_test() as instance:
        for when in (tokyo("2026-03-02", "05:00"), tokyo("2026-03-17", "07:00")):
            with freeze_time(when):
                instance.report_runless_asset_event(dg.AssetMaterialization("article_recs_model"))
        graph = build_definitions().resolve_asset_graph()
        report = attainment(instance, graph, days=20, now=tokyo("2026-03-18", "00:00"))
    [row] = [r for r in report.rows if r.asset == "article_recs_model"]
    assert [(o.deadline.strftime("%m-%d"), o.status) for o in row.outcomes] == [("03-02", "on time"), ("03-09", "missed"), ("03-16", "late")]
    assert row.worst_lateness_minutes == 25 * 60  # 03-16 06:00 -> 03-17 07:00, not 03-09 -> 03-17
