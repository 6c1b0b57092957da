"""A failed or killed write leaves the previous partition exactly as it was."""

import os
import signal
import subprocess
import sys
import textwrap

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml_platform.alerting.failure_content import summarize
from ml_platform.batch_outcomes import first_line
from ml_platform.declaration import daily_partitions
from ml_platform.resources.warehouse import SafeDuckDBPandasIOManager

PARTITIONS = daily_partitions("UTC")
GOOD = pd.DataFrame({"date": pd.Timestamp("2026-11-20"), "user_id": [1, 2, 3], "score": [0.1, 0.2, 0.3]})


def scores_asset(frame: pd.DataFrame):
    @dg.asset(name="scores", partitions_def=PARTITIONS, metadata={"partition_expr": "date"})
    def scores() -> pd.DataFrame:
        return frame

    return scores


def write(database: str, frame: pd.DataFrame) -> bool:
    result = dg.materialize(
        [scores_asset(frame)],
        partition_key="2026-11-20",
        resources={"io_manager": SafeDuckDBPandasIOManager(database=database, schema="ml_platform")},
        raise_on_error=False,
    )
    return result.success


def stored(database: str) -> pd.DataFrame:
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute("select * from ml_platform.scores order by user_id").fetchdf()


@pytest.fixture
def database(tmp_path):
    path = str(tmp_path / "w.duckdb")
    assert write(path, GOOD)
    return path


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(GOOD.iloc[:0], id="empty frame"),
        pytest.param(GOOD.drop(columns="date"), id="no partition column"),
        pytest.param(GOOD.assign(score=["a", "b", "c"], extra=1), id="insert fails after the delete"),
    ],
)
def test_failed_write_keeps_previous_partition(database, bad):
    assert not write(database, bad)
    pd.testing.assert_frame_equal(stored(database), GOOD)


def test_rewrite_replaces_the_partition(database):
    assert write(database, GOOD.assign(score=[0.9, 0.8, 0.7]))
    assert stored(database)["score"].tolist() == [0.9, 0.8, 0.7]


def test_killed_write_keeps_previous_partition(database):
    """The writer process is SIGKILLed after deleting the old rows, before inserting the new ones."""
    child = textwrap.dedent(
        f"""
        import os, signal
        from ml_platform.resources.warehouse import _GuardedPandasTypeHandler
        _GuardedPandasTypeHandler.write_rows = staticmethod(lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
        from tests.resources.test_warehouse import GOOD, write
        write({database!r}, GOOD.assign(score=[0.5, 0.5, 0.5]))
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    done = subprocess.run([sys.executable, "-c", child], cwd=root, timeout=120)
    assert done.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(stored(database), GOOD)


def top_scores_failure(database: str, partition: str):
    """A consumer of ``scores`` materialized alone for ``partition``, which fails: (its error as
    Dagster stores it, whether its retry policy retried it)."""

    @dg.asset(partitions_def=PARTITIONS, metadata={"partition_expr": "date"}, retry_policy=dg.RetryPolicy(max_retries=1))
    def top_scores(scores: pd.DataFrame) -> pd.DataFrame:
        return scores.nlargest(1, "score")

    result = dg.materialize(
        [scores_asset(GOOD), top_scores],
        selection=[top_scores],
        partition_key=partition,
        resources={"io_manager": SafeDuckDBPandasIOManager(database=database, schema="ml_platform")},
        raise_on_error=False,
    )
    assert not result.success
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    [failure] = result.get_step_failure_events()
    return failure.event_specific_data.error, bool(retried)


def test_consumer_refuses_an_upstream_partition_that_was_never_written(database):
    error, retried = top_scores_failure(database, "2026-11-21")  # scores exists only for 2026-11-20
    assert retried  # the partition may land meanwhile
    assert "upstream table 'scores' has no rows for partition 2026-11-21: it has not been materialized yet" in str(error)


def test_consumer_of_a_table_missing_from_the_warehouse_is_told_upstream_not_ready(tmp_path):
    """Dagster may hold the upstream's records while this warehouse lacks its table (another file, a
    fresh dataset): the platform's "upstream not ready", naming it, not the database's raw error."""
    info, retried = top_scores_failure(str(tmp_path / "fresh.duckdb"), "2026-11-20")
    assert "UpstreamTableMissing" in str(info) and "upstream table 'scores' does not exist in the warehouse (ml_platform.scores)" in str(info)
    assert not retried  # a retry cannot bring the table back
    # The CLI's row and the alert's headline say it too, not the database error it was raised from.
    said = "upstream table 'scores' does not exist in the warehouse (ml_platform.scores)"
    assert first_line(info).startswith(f"UpstreamTableMissing: {said}") and summarize(info).headline.startswith(f"UpstreamTableMissing: {said}")
