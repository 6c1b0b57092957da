"""The local instance's settings: one file, loaded by Dagster as written (run queue, tick retention)."""

from pathlib import Path

import dagster as dg

from ml_platform._dagster_internal import InstigatorType
from ml_platform.cli.code_location import LOCAL_INSTANCE_SETTINGS, ensure_local_home

ROOT = Path(__file__).resolve().parents[1]


def test_the_repository_dagster_yaml_is_the_local_instance_settings():
    assert (ROOT / "dagster.yaml").read_text() == LOCAL_INSTANCE_SETTINGS.read_text()


def test_a_queued_run_is_looked_at_every_second_and_ticks_are_purged(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = ensure_local_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        coordinator = instance.run_coordinator
        assert (coordinator.dequeue_interval_seconds, coordinator.dequeue_use_threads) == (1, True)
        retention = {status.value: days for status, days in instance.get_tick_retention_settings(InstigatorType.SENSOR).items()}
        assert retention == {"STARTED": 14, "SKIPPED": 1, "SUCCESS": 7, "FAILURE": 14}


def test_a_home_written_with_the_old_settings_gets_the_new_ones(tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert (ensure_local_home() / "dagster.yaml").read_text() == LOCAL_INSTANCE_SETTINGS.read_text()
