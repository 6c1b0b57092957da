"""Production table store: BigQuery, with each partition replaced in one atomic load job.

Dagster's BigQuery IO manager deletes a partition with a DML statement, then loads the new rows
in a second job: a failed or killed load leaves the partition empty, and an empty frame skips
the load after the DELETE has already run. Here nothing is deleted. Each day of the output is
loaded into the partition decorator ``table$YYYYMMDD`` with ``WRITE_TRUNCATE``, which BigQuery
applies atomically when the load job succeeds: until then readers see the previous partition.
The same guards as the local DuckDB writer apply (empty frame; partition column missing, of a
type that cannot be conformed, or holding another day: ``partition_column.py``), and readers
refuse bad or missing upstream partitions (checks/gate.py).

A table may gain columns (``ALLOW_FIELD_ADDITION``: older partitions read them as NULL); a column
whose type changes fails the write with an error naming the table and the column. The dataset is
created once at deploy time (docs/operations.md): writes never create it, so the service account
needs no ``bigquery.datasets.create``.
"""

import re
from contextlib import contextmanager

import dagster as dg
import pandas as pd
from dagster_gcp.bigquery.io_manager import BigQueryClient
from dagster_gcp_pandas import BigQueryPandasIOManager
from dagster_gcp_pandas.bigquery.bigquery_pandas_type_handler import BigQueryPandasTypeHandler
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery

from ml_platform._dagster_internal import DbIOManager, TableSlice
from ml_platform.checks.gate import check_upstream, refuse_missing_partition
from ml_platform.resources.gcp_credentials import federated_aws_credentials
from ml_platform.resources.partition_column import conform_partition_column, partition_days
from ml_platform.resources.partition_writes import PartitionWritingDbIOManager

_SCHEMA_CHANGE = re.compile(r"Field (\w+) (has changed type from \w+ to \w+|has changed mode from \w+ to \w+)")


class _AtomicBigQueryClient(BigQueryClient):
    """Deletes nothing before a write: the load job's WRITE_TRUNCATE replaces the slice; connects
    with federated AWS credentials where a step runs on AWS (``gcp_credentials``)."""

    @staticmethod
    @contextmanager
    def connect(context, table_slice):
        config = context.resource_config or {}
        yield bigquery.Client(
            project=config.get("project") or None, location=config.get("location") or None, credentials=federated_aws_credentials()
        )

    @staticmethod
    def delete_table_slice(context, table_slice, connection) -> None:
        return None

    @staticmethod
    def ensure_schema_exists(context, table_slice, connection) -> None:
        return None  # created at deploy time; a missing dataset fails the load, naming it


def _day_rows(frame: pd.DataFrame, column: str, days: list[pd.Timestamp]) -> dict[pd.Timestamp, pd.DataFrame]:
    """The frame (partition column already conformed to the window) split by day."""
    day_of_row = frame[column].dt.normalize()
    return {day: frame[day_of_row == day] for day in days}


class _AtomicBigQueryPandasTypeHandler(BigQueryPandasTypeHandler):
    def handle_output(self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection):
        table = ".".join(context.asset_key.path)
        if obj.empty:
            raise ValueError(f"table '{table}': refusing to write an empty frame (the previous data is kept)")
        partition_expr = (context.definition_metadata or {}).get("partition_expr")
        destination = f"{table_slice.database}.{table_slice.schema}.{table_slice.table}"
        config = context.resource_config or {}
        if not context.has_asset_partitions:  # a ranged run has partitions but no single key: it loads per day too
            self._load(connection, obj, destination, config, time_partitioning=None, table=table)
        else:
            window = context.asset_partitions_time_window
            obj = conform_partition_column(table, obj, partition_expr or "", window)
            partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=partition_expr.upper())
            by_day = _day_rows(obj, partition_expr, partition_days(window))
            empty = [day for day, rows in by_day.items() if rows.empty]
            if empty:  # checked before any load, so a refused write changes no day
                raise ValueError(f"table '{table}': no rows for partition {empty[0].date()} (the previous data is kept)")
            for day, rows in by_day.items():
                self._load(connection, rows, f"{destination}${day:%Y%m%d}", config, partitioning, table=table)
        context.add_output_metadata(
            {"dagster/partition_row_count" if context.has_partition_key else "dagster/row_count": len(obj)}
        )

    @staticmethod
    def _load(connection, frame: pd.DataFrame, destination: str, config, time_partitioning, table: str) -> None:
        job_config = bigquery.LoadJobConfig(
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            time_partitioning=time_partitioning,
            # A new column is added to the table; only a partition write keeps the old schema to extend.
            schema_update_options=[bigquery.SchemaUpdateOption.ALLOW_FIELD_ADDITION] if time_partitioning else None,
        )
        try:
            connection.load_table_from_dataframe(
                dataframe=frame.rename(columns=str.upper),  # as dagster-gcp-pandas writes (its reader lowercases)
                destination=destination,
                job_config=job_config,
                location=config.get("location"),
                timeout=config.get("timeout"),
            ).result(timeout=config.get("timeout"))
        except BadRequest as error:
            change = _SCHEMA_CHANGE.search(str(error))
            if change is None:
                raise
            raise ValueError(
                f"table '{table}': column '{change.group(1).lower()}' {change.group(2)}; the previous data is kept."
                " Keep the column's type, or write it under a new name (added columns are allowed)"
            ) from error
        except NotFound as error:
            if "Dataset" not in str(error):
                raise
            raise ValueError(f"table '{table}': {error.message}; create the dataset at deploy time (docs/operations.md)") from error

    def load_input(self, context: dg.InputContext, table_slice, connection) -> pd.DataFrame:
        check_upstream(context)
        frame = super().load_input(context, table_slice, connection)
        refuse_missing_partition(context, len(frame))
        return frame


class AtomicBigQueryPandasIOManager(BigQueryPandasIOManager):
    """BigQueryPandasIOManager whose partition writes are all-or-nothing and gated on read."""

    @staticmethod
    def type_handlers():
        return [_AtomicBigQueryPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return PartitionWritingDbIOManager(
            context.resource_config,
            db_client=_AtomicBigQueryClient(write_mode=self.write_mode, gcp_credentials=self.gcp_credentials),
            io_manager_name="AtomicBigQueryPandasIOManager",
            database=self.project,
            schema=self.dataset,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
        )
