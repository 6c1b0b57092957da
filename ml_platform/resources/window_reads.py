"""Reads of a window of daily partitions straight from the warehouse, in one query.

The prediction-monitoring check reads the partition it checks (and that partition of the expected
entities), the delayed-label sensor joins a day's predictions with that day's labels, and a model
trains on the last N days of its features (``training_window``). Loading
those through the IO manager would mean an input per table (and the cross-run gate on each); here
one ``SELECT ... WHERE <partition column> >= start AND < end`` returns the partitions asked for.

``window_reader`` resource: ``DuckDBWindowReader`` locally (the same file as the IO manager),
``BigQueryWindowReader`` in production (the same dataset). A table that does not exist yet reads
as an empty frame.
"""

import time
from datetime import date, datetime, timedelta
from typing import Sequence

import dagster as dg
import pandas as pd

WINDOW_READER_KEY = "window_reader"
LOCK_RETRIES = 10  # DuckDB allows one writing process per file: a run's write can hold it briefly


def training_window(context: dg.AssetExecutionContext, reader, key: dg.AssetKey, days: int, partition_column: str = "date") -> tuple[str, str, pd.DataFrame]:
    """(first, newest, rows): the ``days`` daily partitions of ``key`` up to its newest materialized
    one, read in one query. A model trains on a bounded window, never the whole history."""
    newest = max(context.instance.get_materialized_partitions(key), default=None)
    if newest is None:
        raise dg.Failure(f"{context.asset_key.to_user_string()}: {key.to_user_string()} has no materialized partition to train on")
    first = (date.fromisoformat(newest) - timedelta(days=days - 1)).isoformat()
    return first, newest, reader.read(key, partition_column, first, newest)


def _bounds(first: str, last: str) -> tuple[datetime, datetime]:
    start = date.fromisoformat(first[:10])
    end = date.fromisoformat(last[:10]) + timedelta(days=1)
    return datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day)


def _select(columns: Sequence[str] | None) -> str:
    return ", ".join(f'"{c}"' for c in columns) if columns else "*"


class DuckDBWindowReader(dg.ConfigurableResource):
    """Partitions ``first``..``last`` (daily keys, inclusive) of a table in the local DuckDB warehouse."""

    database: str
    schema_name: str = "ml_platform"

    def read(self, key: dg.AssetKey, partition_column: str, first: str, last: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        import duckdb

        start, end = _bounds(first, last)
        sql = f'select {_select(columns)} from {self.schema_name}."{key.path[-1]}" where "{partition_column}" >= ? and "{partition_column}" < ?'
        for attempt in range(LOCK_RETRIES):
            try:
                connection = duckdb.connect(self.database)
                break
            except (duckdb.IOException, RuntimeError):
                if attempt == LOCK_RETRIES - 1:
                    raise
                time.sleep(0.1 * 2**attempt)
        try:
            return connection.execute(sql, [start, end]).fetch_df()
        except duckdb.CatalogException:  # table not written yet
            return pd.DataFrame(columns=list(columns or ()))
        finally:
            connection.close()


class BigQueryWindowReader(dg.ConfigurableResource):
    """Partitions ``first``..``last`` of a table in the production BigQuery dataset."""

    project: str
    dataset: str
    location: str | None = None

    def read(self, key: dg.AssetKey, partition_column: str, first: str, last: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        start, end = _bounds(first, last)
        from ml_platform.resources.gcp_credentials import federated_aws_credentials

        client = bigquery.Client(project=self.project, location=self.location, credentials=federated_aws_credentials())
        sql = (
            f"select {_select(columns).replace(chr(34), '`')} from `{self.project}.{self.dataset}.{key.path[-1]}` "
            f"where `{partition_column}` >= @start and `{partition_column}` < @end"
        )
        # DATETIME: the partition column's stored type (resources/partition_column.py); BigQuery
        # compares no DATETIME with a TIMESTAMP.
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("start", "DATETIME", start), bigquery.ScalarQueryParameter("end", "DATETIME", end)]
        )
        try:
            return client.query(sql, job_config=config).to_dataframe()
        except NotFound:
            return pd.DataFrame(columns=list(columns or ()))



def split_by_partition(frame: pd.DataFrame, partition_column: str) -> dict[str, pd.DataFrame]:
    """Rows of a multi-day frame (a ranged run's input) per daily partition key ('YYYY-MM-DD')."""
    if frame.empty or partition_column not in frame.columns:
        return {}
    days = pd.to_datetime(frame[partition_column]).dt.strftime("%Y-%m-%d")
    return {day: rows for day, rows in frame.groupby(days, sort=True)}
