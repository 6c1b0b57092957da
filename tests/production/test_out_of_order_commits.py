"""Event ids committed out of order on PostgreSQL do not hide a check result from the data-quality
sensor: two run workers (two processes) write concurrently, the one holding the lower event
id commits after the sensor read the higher one.

The lower id's commit is held inside Dagster's own write: a trigger on ``event_logs`` waits, after
the row got its id, for an advisory lock the test holds (as a slow or paused worker would). The
check evaluation's partition is only in the serialized event (its ``partition`` column is empty).
"""

import multiprocessing
import time
from contextlib import closing

import dagster as dg
import psycopg2
import pytest
import yaml

from tests.fixtures.sensor_ticks import tick_sensor
from tests.sensors.test_quality_alert_incidents import defs, run

DB = "out_of_order"
HOLD_LOCK = 15_001
HOLD_TRIGGER = f"""
CREATE FUNCTION hold_commit() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_lock_shared({HOLD_LOCK});
    PERFORM pg_advisory_unlock_shared({HOLD_LOCK});
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER hold_commit AFTER INSERT ON event_logs FOR EACH ROW
    WHEN (NEW.dagster_event_type = 'ASSET_CHECK_EVALUATION' AND NEW.event LIKE '%"2026-03-10"%')
    EXECUTE FUNCTION hold_commit();
"""


@pytest.fixture
def database(postgres):
    """A database of its own on the session's server (the deployment tests share the default one)."""
    with closing(psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.username, dbname="postgres")) as admin:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{DB}"')
            cursor.execute(f'CREATE DATABASE "{DB}"')
    yield lambda: psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.username, dbname=DB)


def instance_home(postgres, tmp_path) -> str:
    """DAGSTER_HOME of every process here (the sensor's, the run workers'): the shared database."""
    db = {"hostname": postgres.host, "port": postgres.port, "username": postgres.username, "password": "unused", "db_name": DB, "scheme": "postgresql+psycopg2"}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"storage": {"postgres": {"postgres_db": db}}, "telemetry": {"enabled": False}}))
    return str(tmp_path)


def run_worker(home: str, partition: str, *failing: str) -> None:
    """A run worker process of its own: its own instance client and connections."""
    with dg.DagsterInstance.from_config(home) as instance:
        run(instance, partition, *failing)


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def evaluation_ids(connection, partition: str) -> list[int]:
    with connection.cursor() as sql:
        sql.execute(
            "SELECT id FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION' AND event LIKE %s ORDER BY id", (f'%"{partition}"%',)
        )
        return [row[0] for row in sql.fetchall()]


def test_check_result_committed_after_a_higher_id_was_read_still_alerts(slack_api, postgres, database, tmp_path):
    home = instance_home(postgres, tmp_path)
    with dg.DagsterInstance.from_config(home) as sensor_instance, closing(database()) as test_db:
        test_db.autocommit = True
        definitions, cursor = defs(slack_api), None

        def tick() -> list[str]:
            nonlocal cursor
            before = len(slack_api.messages)
            cursor = tick_sensor(definitions, "data_quality_alerts", sensor_instance, cursor).cursor
            return slack_api.texts()[before:]

        run(sensor_instance, "2026-03-09")  # history: the sensor's first read starts below the race
        assert tick() == []
        with test_db.cursor() as sql:
            sql.execute(HOLD_TRIGGER)
            sql.execute("SELECT pg_advisory_lock(%s)", (HOLD_LOCK,))
        slow = multiprocessing.get_context("spawn").Process(target=run_worker, args=(home, "2026-03-10", "row_count_change@2026-03-10"))
        slow.start()
        with test_db.cursor() as sql:
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            wait_for(lambda: sql.execute(waiting) or sql.fetchone()[0] == 1, "the slow worker to hold its event id", timeout=120)

        run(sensor_instance, "2026-03-11", "score_range@2026-03-11")  # ids above the held one, committed now
        first = tick()
        assert [t.split(":")[1].strip() for t in first] == ["churn_scores 2026-03-11"]

        with test_db.cursor() as sql:
            sql.execute("SELECT pg_advisory_unlock(%s)", (HOLD_LOCK,))
        slow.join(timeout=120)
        assert slow.exitcode == 0
        assert evaluation_ids(test_db, "2026-03-10")[0] < evaluation_ids(test_db, "2026-03-11")[0]  # committed out of order

        second = tick()
        assert [t.split(":")[1].strip() for t in second] == ["churn_scores 2026-03-10"]
        assert second[0].startswith("ERROR: churn_scores 2026-03-10: row_count_change (error) failed")
        assert tick() == []  # read again in the overlap, not alerted again
