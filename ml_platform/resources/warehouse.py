"""Where tables and models are stored, per environment.

local:       DuckDB file (dagster-duckdb-pandas) + pickled models on the local disk.
production:  BigQuery (bigquery_warehouse.py) + pickled models in GCS (dagster-gcp).

The local DuckDB writer wraps dagster-duckdb's delete-then-insert in one transaction and
refuses an empty frame, so a failed or killed write leaves the previous table or partition as it
was. Its partition column is checked first (``partition_column.py``): converted to the one type a
rerun can replace, or refused. Both environments' table readers refuse an
upstream partition that failed an ERROR check or does not exist (``ml_platform.checks.gate``).
"""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager
from dagster_duckdb_pandas.duckdb_pandas_type_handler import DuckDBPandasTypeHandler

from ml_platform._dagster_internal import DbIOManager
from ml_platform.checks.gate import UpstreamTableMissing, check_upstream, refuse_missing_partition
from ml_platform.declaration import MODEL_IO_MANAGER_KEY
from ml_platform.resources.partition_column import conform_partition_column, stored_type_problem
from ml_platform.resources.partition_writes import PartitionWritingDbIOManager
from ml_platform.resources.window_reads import WINDOW_READER_KEY, BigQueryWindowReader, DuckDBWindowReader

SCHEMA = "ml_platform"
# What DuckDB and BigQuery raise for a table that does not exist (Dagster may hold its records while
# this warehouse lacks it: another warehouse file, a fresh dataset).
MISSING_TABLE_ERRORS = {"CatalogException", "NotFound"}
DEFAULT_HOME = ".ml_platform"


def _gated(load_input):
    """A type handler's ``load_input`` that refuses bad or missing upstream partitions first."""

    def gated_load_input(self, context: dg.InputContext, table_slice, connection) -> pd.DataFrame:
        check_upstream(context)
        try:
            frame = load_input(self, context, table_slice, connection)
        except Exception as error:
            name = type(error).__name__
            if name not in MISSING_TABLE_ERRORS or (name == "CatalogException" and "does not exist" not in str(error)):
                raise
            raise UpstreamTableMissing(
                f"upstream table '{context.asset_key.to_user_string()}' does not exist in the warehouse"
                f" ({table_slice.schema}.{table_slice.table}): materialize it first (ml-platform run --with-upstream)."
            ) from error
        refuse_missing_partition(context, len(frame))
        return frame

    return gated_load_input


class _TransactionalDuckDbClient(DuckDbClient):
    """Runs each write (delete old slice + insert new rows) as a single DuckDB transaction."""

    @staticmethod
    @contextmanager
    def connect(context, table_slice):
        with DuckDbClient.connect(context, table_slice) as conn:
            conn.begin()
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                conn.close()  # the parent closes the connection only on success
                raise

    @staticmethod
    def delete_table_slice(context, table_slice, connection) -> None:
        # The parent lets DELETE fail on a missing table, which would abort our transaction.
        if _table_exists(connection, table_slice):
            DuckDbClient.delete_table_slice(context, table_slice, connection)


def _table_exists(connection, table_slice) -> bool:
    return bool(
        connection.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [table_slice.schema, table_slice.table],
        ).fetchall()[0][0]  # fetched to the end: DuckDB refuses new work on a connection with a pending result
    )


def _column_type(connection, table_slice, column: str) -> str | None:
    """The stored type of a column (None: no such table or column yet)."""
    found = connection.execute(
        "select data_type from information_schema.columns where table_schema = ? and table_name = ? and column_name = ?",
        [table_slice.schema, table_slice.table, column],
    ).fetchall()
    return found[0][0] if found else None


class _GuardedPandasTypeHandler(DuckDBPandasTypeHandler):
    def handle_output(self, context: dg.OutputContext, table_slice, obj: pd.DataFrame, connection):
        table = ".".join(context.asset_key.path)
        if obj.empty:
            raise ValueError(f"table '{table}': refusing to write an empty frame (the previous data is kept)")
        partition_expr = (context.definition_metadata or {}).get("partition_expr")
        if context.has_asset_partitions and partition_expr:  # one day, or a ranged run's days
            window = context.asset_partitions_time_window
            obj = conform_partition_column(table, obj, partition_expr, window)
            stored = _column_type(connection, table_slice, partition_expr)
            problem = stored and stored_type_problem(f"{table_slice.schema}.{table_slice.table}", partition_expr, stored, str(window.start.tzinfo))
            if problem:
                raise ValueError(problem)
        self.write_rows(connection, table_slice, obj)
        count = "dagster/partition_row_count" if context.has_partition_key else "dagster/row_count"
        context.add_output_metadata(
            {
                count: dg.MetadataValue.int(len(obj)),
                "dagster/storage_kind": "duckdb",
                "dataframe_columns": dg.MetadataValue.table_schema(
                    dg.TableSchema(columns=[dg.TableColumn(name=str(column), type=str(dtype)) for column, dtype in obj.dtypes.items()])
                ),
            }
        )

    @staticmethod
    def write_rows(connection, table_slice, obj: pd.DataFrame) -> None:
        """The frame goes to DuckDB once, as Arrow (numeric columns without a copy): one CREATE or one
        INSERT, inside the client's transaction with the DELETE of the old partition."""
        rows = connection.from_arrow(pa.Table.from_pandas(obj, preserve_index=False))
        name = f"{table_slice.schema}.{table_slice.table}"
        if _table_exists(connection, table_slice):
            rows.insert_into(name)
        else:
            rows.create(name)

    load_input = _gated(DuckDBPandasTypeHandler.load_input)


class SafeDuckDBPandasIOManager(DuckDBPandasIOManager):
    """DuckDBPandasIOManager whose writes are all-or-nothing."""

    @staticmethod
    def type_handlers():
        return [_GuardedPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return PartitionWritingDbIOManager(
            context.resource_config,
            db_client=_TransactionalDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="SafeDuckDBPandasIOManager",
        )


def local_duckdb_path() -> str:
    # An empty value counts as unset: an empty DuckDB path would silently mean "in memory".
    return dg.EnvVar("ML_PLATFORM_DUCKDB_PATH").get_value() or str(Path(DEFAULT_HOME) / "warehouse.duckdb")


def warehouse_resources(env: str) -> dict[str, dg.ConfigurableIOManagerFactory | dg.ConfigurableResource]:
    """The table and model IO managers for an environment ("local" or "production"), and the
    reader of partition windows the prediction monitoring uses (resources/window_reads.py)."""
    if env == "local":
        database = local_duckdb_path()
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        return {
            "io_manager": SafeDuckDBPandasIOManager(database=database, schema=SCHEMA),
            MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager(base_dir=str(Path(database).parent / "models")),
            WINDOW_READER_KEY: DuckDBWindowReader(database=database, schema_name=SCHEMA),
        }
    if env == "production":
        # Imported here: a local code location never loads the Google client libraries (~1.7 s).
        from dagster_gcp import GCSPickleIOManager

        from ml_platform.resources.bigquery_warehouse import AtomicBigQueryPandasIOManager
        from ml_platform.resources.gcp_credentials import FederatedGCSResource

        # Resolved when a run starts, so loading the code location needs no GCP access.
        return {
            "io_manager": AtomicBigQueryPandasIOManager(
                project=dg.EnvVar("ML_PLATFORM_GCP_PROJECT"),
                dataset=dg.EnvVar("ML_PLATFORM_BIGQUERY_DATASET"),
                location=dg.EnvVar("ML_PLATFORM_GCP_LOCATION"),
            ),
            MODEL_IO_MANAGER_KEY: GCSPickleIOManager(
                gcs=FederatedGCSResource(project=dg.EnvVar("ML_PLATFORM_GCP_PROJECT")),
                gcs_bucket=dg.EnvVar("ML_PLATFORM_MODEL_BUCKET"),
                gcs_prefix="ml_platform/models",
            ),
            WINDOW_READER_KEY: BigQueryWindowReader(
                project=dg.EnvVar("ML_PLATFORM_GCP_PROJECT"),
                dataset=dg.EnvVar("ML_PLATFORM_BIGQUERY_DATASET"),
                location=dg.EnvVar("ML_PLATFORM_GCP_LOCATION"),
            ),
        }
    raise ValueError(f"ML_PLATFORM_ENV: unknown environment '{env}' (known: local, production)")
