"""The BigQuery table store replaces a partition in one load job, through google-cloud-bigquery."""

import dagster as dg
import google.auth
import numpy as np
import pandas as pd
import pytest
from google.auth.credentials import AnonymousCredentials

from ml_platform.declaration import daily_partitions
from ml_platform.resources.bigquery_warehouse import AtomicBigQueryPandasIOManager
from tests.fixtures.bigquery_api import BigQueryServer

PROJECT, DATASET = "ml-platform-test", "ml_platform"
DAY = "2026-11-20"
GOOD = pd.DataFrame({"date": pd.Timestamp(DAY), "user_id": [1, 2, 3], "score": [0.1, 0.2, 0.3]})
PREVIOUS_DAY = GOOD.assign(date=pd.Timestamp("2026-11-19"), score=[0.5, 0.5, 0.5])


@pytest.fixture
def bigquery(tmp_path, monkeypatch):
    with BigQueryServer() as fake:
        # Production gets credentials from workload identity; here no token service exists.
        monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), PROJECT))
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", fake.url)
        fake.datasets.add((PROJECT, DATASET))  # created at deploy time (docs/operations.md)
        yield fake


def write(frame: pd.DataFrame, partition: str | None = DAY, timeout: int | None = None) -> bool:
    return materialize_scores(frame, partition, timeout).success


def materialize_scores(frame: pd.DataFrame, partition: str | None = DAY, timeout: int | None = None, consumer=None):
    @dg.asset(name="scores", partitions_def=daily_partitions("UTC") if partition else None,
              metadata={"partition_expr": "date"})
    def scores() -> pd.DataFrame:
        return frame

    manager = AtomicBigQueryPandasIOManager(project=PROJECT, dataset=DATASET, location="EU", timeout=timeout)
    return dg.materialize([scores, *([consumer] if consumer else [])], partition_key=partition,
                          resources={"io_manager": manager}, raise_on_error=False)


def stored(fake) -> pd.DataFrame:
    rows = fake.table(PROJECT, DATASET, "scores").rename(columns=str.lower)
    rows["date"] = pd.to_datetime(rows["date"]).dt.tz_convert(None).astype("datetime64[s]")  # stored as UTC
    return rows.sort_values(["date", "user_id"]).reset_index(drop=True)


def expected(*frames) -> pd.DataFrame:
    return pd.concat(frames).sort_values(["date", "user_id"]).reset_index(drop=True)


def assert_only_loads(fake):
    """Every write was a load job: nothing was deleted, no DML ran."""
    assert not [r for r in fake.requests if r.method == "DELETE" or "query" in (r.body or {}).get("configuration", {})]
    assert not [r for r in fake.requests if r.path.endswith("/queries")]


@pytest.fixture
def two_days(bigquery):
    assert write(PREVIOUS_DAY, "2026-11-19") and write(GOOD)
    return bigquery


def test_load_job_truncates_only_the_partition_decorator(two_days):
    assert write(GOOD.assign(score=[0.9, 0.8, 0.7]))
    load = two_days.load_jobs()[-1]
    assert load["destinationTable"] == {"projectId": PROJECT, "datasetId": DATASET, "tableId": "scores$20261120"}
    assert load["writeDisposition"] == "WRITE_TRUNCATE"
    assert load["timePartitioning"] == {"type": "DAY", "field": "DATE"}
    pd.testing.assert_frame_equal(stored(two_days), expected(PREVIOUS_DAY, GOOD.assign(score=[0.9, 0.8, 0.7])))
    assert_only_loads(two_days)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(GOOD.iloc[:0], id="empty frame"),
        pytest.param(GOOD.drop(columns="date"), id="no partition column"),
        pytest.param(GOOD.assign(date=pd.Timestamp("2026-11-21")), id="rows of another day"),
    ],
)
def test_refused_frame_sends_no_request_and_keeps_the_partition(two_days, bad):
    before = len(two_days.requests)
    assert not write(bad)
    assert [r.path for r in two_days.requests[before:] if "/jobs" in r.path] == []
    pd.testing.assert_frame_equal(stored(two_days), expected(PREVIOUS_DAY, GOOD))


def test_job_failing_after_it_was_accepted_keeps_the_previous_partition(two_days):
    two_days.fail_next_jobs = 1
    assert not write(GOOD.assign(score=[0.0, 0.0, 0.0]))
    pd.testing.assert_frame_equal(stored(two_days), expected(PREVIOUS_DAY, GOOD))
    assert_only_loads(two_days)


def test_slow_job_is_waited_for_and_readers_see_the_old_rows_meanwhile(two_days):
    two_days.polls_before_done = 2
    two_days.status_delay_seconds = 0.3
    seen_while_running = []
    job_status = two_days.job_status

    def watch(job_id):
        seen_while_running.append(stored(two_days)["score"].tolist())
        return job_status(job_id)

    two_days.job_status = watch
    assert write(GOOD.assign(score=[0.9, 0.8, 0.7]))
    assert seen_while_running[0] == [0.5, 0.5, 0.5, 0.1, 0.2, 0.3]
    assert stored(two_days)["score"].tolist() == [0.5, 0.5, 0.5, 0.9, 0.8, 0.7]


def test_job_still_running_past_the_timeout_fails_the_write_and_keeps_the_partition(two_days):
    two_days.polls_before_done = 1000
    two_days.status_delay_seconds = 0.5
    assert not write(GOOD.assign(score=[0.0, 0.0, 0.0]), timeout=2)
    pd.testing.assert_frame_equal(stored(two_days), expected(PREVIOUS_DAY, GOOD))


def test_unavailable_then_success_is_retried_by_the_client(two_days):
    two_days.insert_errors = [503]
    assert write(GOOD.assign(score=[0.9, 0.8, 0.7]))
    assert stored(two_days)["score"].tolist()[-3:] == [0.9, 0.8, 0.7]
    assert len(two_days.load_jobs()) == 3  # the 503 created no job


def test_large_frame_goes_through_a_resumable_upload(bigquery):
    users = np.arange(700_000)
    frame = pd.DataFrame({"date": pd.Timestamp(DAY), "user_id": users, "score": np.random.default_rng(0).random(len(users))})
    assert write(frame)
    assert any(r.query.get("uploadType") == "resumable" for r in bigquery.requests)
    assert len(stored(bigquery)) == len(frame)


def test_unpartitioned_table_is_truncated_by_the_load(bigquery):
    assert write(GOOD, partition=None) and write(GOOD.iloc[:1], partition=None)
    load = bigquery.load_jobs()[-1]
    assert (load["destinationTable"]["tableId"], load["writeDisposition"]) == ("scores", "WRITE_TRUNCATE")
    assert stored(bigquery)["user_id"].tolist() == [1]
    assert_only_loads(bigquery)


def test_a_partition_with_a_new_column_extends_the_table(two_days):
    assert write(GOOD.assign(score=[0.9, 0.8, 0.7], segment=["a", "b", "c"]))
    load = two_days.load_jobs()[-1]
    assert load["schemaUpdateOptions"] == ["ALLOW_FIELD_ADDITION"]
    rows = stored(two_days)
    assert rows["segment"].isna().tolist() == [True] * 3 + [False] * 3 and rows["segment"].tolist()[3:] == ["a", "b", "c"]


def test_a_column_whose_type_changes_fails_naming_table_and_column_and_keeps_the_data(two_days):
    result = materialize_scores(GOOD.assign(score=["high", "low", "mid"]))
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "table 'scores': column 'score' has changed type from FLOAT to STRING" in error
    pd.testing.assert_frame_equal(stored(two_days), expected(PREVIOUS_DAY, GOOD))


def test_writes_never_create_the_dataset_and_a_missing_one_is_named(bigquery):
    bigquery.datasets.clear()
    result = materialize_scores(GOOD)
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert f"Dataset {PROJECT}:{DATASET}" in error and "create the dataset at deploy time" in error
    assert not [r for r in bigquery.requests if r.path.endswith("/datasets") and r.method == "POST"]


def test_a_consumer_reads_its_partition_back_through_a_query(two_days):
    @dg.asset(partitions_def=daily_partitions("UTC"))
    def top_score(scores: pd.DataFrame) -> None:
        assert scores.sort_values("user_id")["score"].tolist() == [0.1, 0.2, 0.3]
        assert set(pd.to_datetime(scores["date"]).dt.strftime("%Y-%m-%d")) == {DAY}

    assert materialize_scores(GOOD, consumer=top_score).success
