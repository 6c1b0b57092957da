"""The quick start after the deadlines, as a new user runs it: ``ml-platform run`` at 10:00 Tokyo,
then the UI's first ticks. Nothing pages about the demo's own late partitions, the SLO report
begins at the first run, and the UI opens without the newsletter prompt."""

import re

import dagster as dg
import pytest
import yaml
from freezegun import freeze_time

from ml_platform.cli import main
from ml_platform.declaration import declarations
from ml_platform.definitions import build_definitions
from ml_platform.slo.alerts import SENSOR_NAME
from tests.fixtures.dagster_deployment import REPO_ROOT
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN, SlackApiServer
from tests.fixtures.slo_simulation import tokyo

DAY, NEXT_DAY = "2026-03-10", "2026-03-11"  # a Tuesday: the weekly model's deadline was Monday 06:00


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """The README's first command in a fresh clone, run at 10:00 Tokyo (after every deadline); alerts
    would reach the Slack test server. Run once for the module: it materializes every product."""
    root = tmp_path_factory.mktemp("clone")
    slack_api = SlackApiServer().start()
    with pytest.MonkeyPatch.context() as env:
        env.chdir(root)
        for name in ("DAGSTER_HOME", "ML_PLATFORM_DUCKDB_PATH", "ML_PLATFORM_ENV"):
            env.delenv(name, raising=False)  # defaults: .ml_platform/ under the clone
        env.setenv("ML_PLATFORM_SLACK_TOKEN", TEST_TOKEN)
        env.setenv("ML_PLATFORM_SLACK_API_URL", slack_api.url)
        with freeze_time(tokyo(DAY, "10:00"), tick=True):
            assert main(["run"]) == 0
        yield slack_api  # DAGSTER_HOME now points at the CLI's instance (restored afterwards)
    slack_api.stop()


@pytest.fixture
def quick_start(clone):
    with dg.DagsterInstance.get() as instance:
        yield instance


def test_first_slo_tick_after_a_late_quick_start_pages_nothing_and_says_so_in_one_line(quick_start, clone):
    slack_api = clone
    defs = build_definitions()
    tables = len(declarations(defs.resolve_asset_graph()))
    with freeze_time(tokyo(DAY, "10:05")):
        first = tick_sensor(defs, SENSOR_NAME, quick_start, None)
    with freeze_time(tokyo(DAY, "10:06")):
        second = tick_sensor(defs, SENSOR_NAME, quick_start, first.cursor)

    assert slack_api.messages == []
    assert "\n" not in first.skip_message
    assert first.skip_message.startswith(f"{tables} tables: {tables} pass, 0 warn, 0 fail; ")
    assert "; alerts: raised 0, resolved 0" in first.skip_message
    assert f"first tick: {tables} table(s) landed after their last deadline before this sensor ran, not alerted" in first.skip_message
    assert "first tick" not in second.skip_message and "raised 0, resolved 0" in second.skip_message

    # The calm is about history only: the next morning, nothing has run and the breaches page.
    with freeze_time(tokyo(NEXT_DAY, "08:10")):
        morning = tick_sensor(defs, SENSOR_NAME, quick_start, second.cursor)
    assert "raised 0" not in morning.skip_message
    assert slack_api.messages and all(m["text"].startswith("FATAL: SLO breach") for m in slack_api.messages)


def test_slo_report_after_the_quick_start_counts_no_deadline_before_the_first_run(quick_start, capsys):
    capsys.readouterr()
    with freeze_time(tokyo(DAY, "10:10")):
        assert main(["slo-report", "--days", "30"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:] if line and not line.startswith("plot:")]
    assert rows and all(row[1:5] == ["0", "-", "0", "0"] for row in rows), rows  # deadlines, on time, breaches, late


def test_the_ui_of_the_local_instance_opens_without_the_newsletter_prompt(quick_start):
    assert quick_start.nux_enabled is False  # what the UI's shouldShowNux reads
    repo_root = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())  # `dagster dev` from the repo root
    assert repo_root["nux"] == {"enabled": False} and repo_root["telemetry"] == {"enabled": False}


def test_a_quick_start_before_the_days_deadlines_pages_nothing_for_the_day_before_it_existed(tmp_path, monkeypatch):
    """``ml-platform run --product propensity`` at 06:19 Tokyo, before its tables' 07:00 and 09:00
    deadlines: their last deadline (the day before) passed before the platform existed. The first
    tick pages none of them; a table of another product, never materialized, still breaches."""
    slack_api = SlackApiServer().start()
    monkeypatch.chdir(tmp_path)
    for name in ("DAGSTER_HOME", "ML_PLATFORM_DUCKDB_PATH", "ML_PLATFORM_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ML_PLATFORM_SLACK_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("ML_PLATFORM_SLACK_API_URL", slack_api.url)
    try:
        with freeze_time(tokyo(DAY, "06:19"), tick=True):
            assert main(["run", "--product", "propensity"]) == 0
        defs = build_definitions()
        graph = defs.resolve_asset_graph()
        propensity = {k.to_user_string() for k, d in declarations(graph).items() if d.product == "propensity"}
        with dg.DagsterInstance.get() as instance, freeze_time(tokyo(DAY, "06:25")):
            first = tick_sensor(defs, SENSOR_NAME, instance, None)
        paged = {re.match(r"FATAL: SLO breach: (\S+) missed", m["text"]).group(1) for m in slack_api.messages}
        assert paged and not paged & propensity, (paged, first.skip_message)
        assert "article_recommendations" in paged  # never materialized: its missed deadline still pages
        assert "first tick:" in first.skip_message
    finally:
        slack_api.stop()
