"""A rerun replaces exactly its partition, whatever date type the table's code returns: the
partition column is conformed to one stored type before the write, or refused by name."""

from datetime import date

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml_platform.declaration import daily_partitions
from ml_platform.resources.bigquery_warehouse import AtomicBigQueryPandasIOManager
from ml_platform.resources.warehouse import SafeDuckDBPandasIOManager
from tests.resources.test_bigquery_warehouse import DATASET, PROJECT, bigquery  # noqa: F401 (fixture)

TOKYO = daily_partitions("Asia/Tokyo")
DAY, OTHER_DAY = "2026-11-20", "2026-11-19"
USERS = [1, 2, 3]

# The same Tokyo day in each type a product's code may return.
DATE_VALUES = {
    "string": lambda day: [day] * len(USERS),
    "date": lambda day: [date.fromisoformat(day)] * len(USERS),
    "naive timestamp": lambda day: pd.Series([pd.Timestamp(day)] * len(USERS)),
    # Tokyo midnight as a UTC instant: the previous day at 15:00 UTC.
    "tz-aware timestamp": lambda day: pd.Series([pd.Timestamp(day, tz="Asia/Tokyo").tz_convert("UTC")] * len(USERS)),
}


def frame(day: str, kind: str) -> pd.DataFrame:
    return pd.DataFrame({"date": DATE_VALUES[kind](day), "user_id": USERS, "score": [0.1, 0.2, 0.3]})


def write(io_manager, rows: pd.DataFrame, partition: str = DAY) -> dg.ExecuteInProcessResult:
    @dg.asset(name="scores", partitions_def=TOKYO, metadata={"partition_expr": "date"})
    def scores() -> pd.DataFrame:
        return rows

    @dg.asset(partitions_def=TOKYO, metadata={"partition_expr": "date"})
    def scores_read_back(scores: pd.DataFrame) -> pd.DataFrame:
        return scores

    return dg.materialize([scores, scores_read_back], partition_key=partition, resources={"io_manager": io_manager}, raise_on_error=False)


def duckdb_rows(database: str) -> pd.DataFrame:
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute("select * from ml_platform.scores order by date, user_id").fetchdf()


def expected_rows(*days: str) -> list[tuple[pd.Timestamp, int]]:
    return [(pd.Timestamp(day), user) for day in sorted(days) for user in USERS]


@pytest.mark.parametrize("kind", list(DATE_VALUES))
def test_duckdb_rerun_three_times_keeps_one_copy_of_the_partition(tmp_path, kind):
    database = str(tmp_path / "w.duckdb")
    manager = SafeDuckDBPandasIOManager(database=database, schema="ml_platform")
    assert write(manager, frame(OTHER_DAY, kind), OTHER_DAY).success
    for _ in range(3):
        result = write(manager, frame(DAY, kind))
        assert result.success
        # The consumer reads back exactly the partition's rows, through the same IO manager.
        assert len(result.output_for_node("scores_read_back")) == len(USERS)
    stored = duckdb_rows(database)
    assert list(zip(stored["date"], stored["user_id"], strict=True)) == expected_rows(OTHER_DAY, DAY)
    with duckdb.connect(database, read_only=True) as conn:
        [(stored_type,)] = conn.execute(
            "select data_type from information_schema.columns where table_name = 'scores' and column_name = 'date'"
        ).fetchall()
    assert stored_type.startswith("TIMESTAMP") and "ZONE" not in stored_type


@pytest.mark.parametrize("kind", list(DATE_VALUES))
def test_bigquery_rerun_three_times_keeps_one_copy_of_the_partition(bigquery, kind):  # noqa: F811 (fixture)
    manager = AtomicBigQueryPandasIOManager(project=PROJECT, dataset=DATASET, location="EU")
    assert write_only(manager, frame(OTHER_DAY, kind), OTHER_DAY)
    for _ in range(3):
        assert write_only(manager, frame(DAY, kind))
    stored = bigquery.table(PROJECT, DATASET, "scores").rename(columns=str.lower)
    assert {f["name"]: f["type"] for f in bigquery.tables[(PROJECT, DATASET, "scores")].schema}["DATE"] == "DATETIME"
    pairs = sorted(zip(pd.to_datetime(stored["date"]), stored["user_id"], strict=True))
    assert pairs == expected_rows(OTHER_DAY, DAY)
    assert [job["destinationTable"]["tableId"] for job in bigquery.load_jobs()] == ["scores$20261119"] + ["scores$20261120"] * 3


def write_only(io_manager, rows: pd.DataFrame, partition: str = DAY) -> bool:
    """BigQuery's fake serves loads, not queries: write without the read-back consumer."""

    @dg.asset(name="scores", partitions_def=TOKYO, metadata={"partition_expr": "date"})
    def scores() -> pd.DataFrame:
        return rows

    return dg.materialize([scores], partition_key=partition, resources={"io_manager": io_manager}, raise_on_error=False).success


REFUSED = [
    pytest.param(pd.Series([20261120] * 3), "has type int64", id="integer yyyymmdd"),
    pytest.param(["20/11/2026"] * 3, "has type string (e.g. '20/11/2026', not ISO 8601", id="non-ISO string"),
    # pandas' ISO 8601 parser reads these three; only a whole YYYY-MM-DD date is taken.
    pytest.param(["2026/11/20"] * 3, "has type string (e.g. '2026/11/20', not ISO 8601", id="slashed string"),
    pytest.param(["2026-11-20", "20261120", "2026-11-20"], "has type string (e.g. '20261120', not ISO 8601", id="compact string"),
    pytest.param(["2026-11"] * 3, "has type string (e.g. '2026-11', not ISO 8601", id="month string"),
    pytest.param(["2026-11-20", None, "2026-11-20"], "has 1 missing value(s)", id="missing value"),
    pytest.param(["2026-11-21"] * 3, "holds 2026-11-21, outside the partition 2026-11-20..2026-11-20", id="another day"),
]


@pytest.mark.parametrize(("dates", "message"), REFUSED)
def test_duckdb_refuses_an_ambiguous_column_naming_table_column_and_type_and_keeps_the_partition(tmp_path, dates, message):
    database = str(tmp_path / "w.duckdb")
    manager = SafeDuckDBPandasIOManager(database=database, schema="ml_platform")
    assert write(manager, frame(DAY, "naive timestamp")).success
    result = write(manager, frame(DAY, "naive timestamp").assign(date=dates, score=0.9))
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert f"table 'scores': partition column 'date' {message}" in str(failure.event_specific_data.error)
    assert duckdb_rows(database)["score"].tolist() == [0.1, 0.2, 0.3]


def test_bigquery_refuses_an_ambiguous_column_without_any_load(bigquery):  # noqa: F811 (fixture)
    manager = AtomicBigQueryPandasIOManager(project=PROJECT, dataset=DATASET, location="EU")
    assert not write_only(manager, frame(DAY, "naive timestamp").assign(date=[20261120] * 3))
    assert bigquery.load_jobs() == []


def test_a_table_stored_with_text_dates_is_refused_with_the_fix(tmp_path):
    """A table written before the check (dates as VARCHAR) would duplicate each rerun: refused."""
    database = str(tmp_path / "w.duckdb")
    with duckdb.connect(database) as conn:
        conn.execute("create schema ml_platform")
        conn.execute("create table ml_platform.scores as select '2026-11-20' as date, 1 as user_id, 0.5 as score")
    result = write(SafeDuckDBPandasIOManager(database=database, schema="ml_platform"), frame(DAY, "string"))
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "table 'ml_platform.scores': its stored partition column 'date' is VARCHAR" in str(failure.event_specific_data.error)
    assert len(duckdb_rows(database)) == 1


def test_iso_times_at_different_offsets_are_converted_and_naive_mixed_with_aware_is_refused():
    from ml_platform.resources.partition_column import conform_partition_column

    window = daily_partitions("Asia/Tokyo").time_window_for_partition_key("2026-11-10")
    frame = pd.DataFrame({"date": ["2026-11-10T00:00:00+09:00", "2026-11-10T01:00:00+00:00"], "n": [1, 2]})
    conformed = conform_partition_column("scores", frame, "date", window)
    assert conformed["date"].tolist() == [pd.Timestamp("2026-11-10 00:00"), pd.Timestamp("2026-11-10 10:00")]
    mixed = frame.assign(date=["2026-11-10", "2026-11-10T01:00:00+00:00"])
    with pytest.raises(ValueError, match="table 'scores': partition column 'date' has type object \\(times with and without a UTC offset mixed\\)"):
        conform_partition_column("scores", mixed, "date", window)
