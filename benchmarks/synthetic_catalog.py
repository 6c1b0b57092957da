"""A synthetic catalog at team scale: N products x M tables, as a loadable code location.

Each product has feature tables (a short chain), one weekly model trained on them, and
prediction tables that read the model and a feature; every third product (every
``ML_PLATFORM_SYNTH_CROSS_EVERY``-th) also reads a feature table of the product before it: those
prediction tables are launched on data by the platform. Deadlines are drawn from a few shared SLOs, compute profiles
vary by kind, and every prediction table has a row-count check. Bodies are cheap: the catalog
measures the platform, not the models.

Two flavours of the same shape:
  platform  declared with ``FeatureTable`` / ``Model`` / ``PredictionTable`` and ``asset_kwargs()``,
            assembled by ``ml_platform.assembly.assemble_definitions`` like the real code
            location (step metrics, product schedules, alert sensors, routing executor,
            platform IO managers);
  plain     the same assets, deps, partitions, retries, checks and one schedule per product,
            written with Dagster alone.
  plain_args  plain, but each asset also gets the platform's per-asset Dagster arguments
            (freshness policy, owners, tags, kinds, op tags, declaration metadata): separates
            Dagster's own cost for those arguments from the platform's assembly.

Load it with::

    ML_PLATFORM_SYNTH_PRODUCTS=30 ML_PLATFORM_SYNTH_TABLES_PER_PRODUCT=10 \\
        dagster definitions validate -f benchmarks/synthetic_catalog.py -a platform_defs   # or plain_defs
"""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb_pandas import DuckDBPandasIOManager

from ml_platform.assembly import assemble_definitions
from ml_platform.checks.prediction_monitoring import monitoring_check_names
from ml_platform.checks.quality_checks import check_names
from ml_platform.declaration import (
    MODEL_IO_MANAGER_KEY,
    PARTITIONS_START,
    SLO,
    Expectations,
    FeatureTable,
    MLAsset,
    Model,
    PredictionTable,
)
from ml_platform.resources.warehouse import SCHEMA, local_duckdb_path
from ml_platform.schedules.product_schedules import schedule_start

TIMEZONE = "Asia/Tokyo"
FEATURE_SLO = SLO("0 5 * * *", timezone=TIMEZONE)
MODEL_SLO = SLO("0 4 * * 1", timezone=TIMEZONE, window=timedelta(days=7))
PREDICTION_SLOS = [  # consumers read at a handful of times: deadlines are shared
    SLO("0 6 * * *", timezone=TIMEZONE),
    SLO("0 7 * * *", timezone=TIMEZONE, warn_margin=timedelta(minutes=30)),
    SLO("0 8 * * *", timezone=TIMEZONE),
    SLO("30 8 * * *", timezone=TIMEZONE),
    SLO("0 9 * * *", timezone=TIMEZONE, warn_margin=timedelta(hours=1)),
]
FEATURE_PROFILES = ["small", "small", "small", "large"]
MODEL_PROFILES = ["training", "gpu", "sagemaker_training"]
PREDICTION_PROFILES = ["small", "large", "small", "gpu"]
ROWS = 100


@dataclass(frozen=True)
class CatalogShape:
    products: int
    tables_per_product: int
    cross_every: int = 3  # every n-th product's first prediction table reads the previous product

    def __post_init__(self):
        if self.products < 1 or self.tables_per_product < 3:
            raise ValueError(f"catalog shape {self}: need at least 1 product and 3 tables per product (feature, model, prediction)")

    @property
    def tables(self) -> int:
        return self.products * self.tables_per_product

    @staticmethod
    def from_env() -> "CatalogShape":
        return CatalogShape(
            products=int(dg.EnvVar("ML_PLATFORM_SYNTH_PRODUCTS").get_value("30")),
            tables_per_product=int(dg.EnvVar("ML_PLATFORM_SYNTH_TABLES_PER_PRODUCT").get_value("10")),
            cross_every=int(dg.EnvVar("ML_PLATFORM_SYNTH_CROSS_EVERY").get_value("3")),
        )


@dataclass(frozen=True)
class Table:
    """One table of the shape: its declaration (platform) and its upstream table names."""

    declaration: MLAsset
    deps: tuple[str, ...]
    has_checks: bool


def product_tables(shape: CatalogShape, p: int) -> list[Table]:
    product = f"product_{p:03d}"
    owner = f"team:squad_{p % 8}"
    n_predictions = max(1, shape.tables_per_product // 4)
    n_features = shape.tables_per_product - 1 - n_predictions
    features = [f"{product}_feature_{i}" for i in range(n_features)]
    model = f"{product}_model"
    tables = [
        Table(
            FeatureTable(name=name, product=product, owner=owner, slo=FEATURE_SLO,
                         compute=FEATURE_PROFILES[(p + i) % len(FEATURE_PROFILES)],
                         expectations=Expectations(key_columns=("user_id",))),
            deps=(features[i - 1],) if i % 3 and i else (),
            has_checks=True,  # the platform checks every table with expectations: so does plain
        )
        for i, name in enumerate(features)
    ]
    tables.append(
        Table(
            Model(name=model, product=product, owner=owner, slo=MODEL_SLO,
                  compute=MODEL_PROFILES[p % len(MODEL_PROFILES)], retries=1),
            deps=tuple(features),
            has_checks=False,
        )
    )
    crosses = p > 0 and p % shape.cross_every == shape.cross_every - 1
    upstream_feature = f"product_{p - 1:03d}_feature_0" if crosses and n_features else None
    for j in range(n_predictions):
        deps = (model, features[j % n_features]) if n_features else (model,)
        if upstream_feature and j == 0:
            deps += (upstream_feature,)
        tables.append(
            Table(
                PredictionTable(
                    name=f"{product}_predictions_{j}", product=product, owner=owner,
                    slo=PREDICTION_SLOS[(p + j) % len(PREDICTION_SLOS)],
                    compute=PREDICTION_PROFILES[(p + j) % len(PREDICTION_PROFILES)],
                    alert_channel=f"#{product}-alerts" if p % 5 == 0 else None,
                    expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
                ),
                deps=deps,
                has_checks=True,
            )
        )
    return tables


def catalog_tables(shape: CatalogShape) -> list[Table]:
    return [table for p in range(shape.products) for table in product_tables(shape, p)]


def _compute(declaration: MLAsset):
    """A cheap body for the table's kind: a small frame (tables) or a small array (models)."""
    if declaration.KIND == Model.KIND:
        return lambda context: np.arange(ROWS, dtype="float64")
    score = declaration.KIND == PredictionTable.KIND

    def body(context: dg.AssetExecutionContext) -> pd.DataFrame:
        rng = np.random.default_rng(ROWS)
        frame = pd.DataFrame({"date": pd.Timestamp(context.partition_key), "user_id": np.arange(ROWS, dtype="int64")})
        frame["score" if score else "value"] = rng.random(ROWS)
        return frame

    return body


def _plain_checks(table: Table) -> dg.AssetChecksDefinition:
    """The same checks (names, blocking, one op per table) written by hand in plain Dagster."""
    key = dg.AssetKey(table.declaration.name)
    names = check_names(table.declaration.expectations)

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(name, asset=key, blocking=True) for name in names],
        name=f"{key.to_python_identifier()}_checks",
    )
    def checks(context: dg.AssetCheckExecutionContext):
        records = context.instance.fetch_materializations(key, limit=1).records
        metadata = records[0].asset_materialization.metadata if records else {}
        rows = metadata.get("dagster/partition_row_count", metadata.get("dagster/row_count"))
        count = rows.value if rows is not None else 0
        for name in names:
            yield dg.AssetCheckResult(asset_key=key, check_name=name, passed=bool(count), metadata={"row_count": count})

    return checks


def _plain_monitoring_checks(table: Table) -> list[dg.AssetChecksDefinition]:
    """The platform's prediction_drift / prediction_coverage checks of a monitored prediction table,
    written by hand: same names, non-blocking, their own op (as the platform's monitoring op)."""
    names = monitoring_check_names(table.declaration)
    if not names:
        return []
    key = dg.AssetKey(table.declaration.name)

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(name, asset=key, blocking=False) for name in names],
        name=f"{key.to_python_identifier()}_monitoring",
    )
    def monitoring(context: dg.AssetCheckExecutionContext):
        for name in names:
            yield dg.AssetCheckResult(asset_key=key, check_name=name, passed=True)

    return [monitoring]


def _all_plain_checks(tables: list[Table]) -> list[dg.AssetChecksDefinition]:
    return [
        *(_plain_checks(t) for t in tables if t.has_checks),
        *(check for t in tables if t.has_checks for check in _plain_monitoring_checks(t)),
    ]


def platform_asset(table: Table) -> dg.AssetsDefinition:
    return dg.asset(**table.declaration.asset_kwargs(), deps=list(table.deps))(_compute(table.declaration))


@dg.definitions
def platform_defs() -> dg.Definitions:
    """Assembled exactly like the platform's own code location (``assemble_definitions``),
    which adds the platform's own quality checks (one check op per table with expectations)."""
    tables = catalog_tables(CatalogShape.from_env())
    return assemble_definitions([platform_asset(t) for t in tables], env="local")


def plain_asset(table: Table, partitions_def: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    declaration = table.declaration
    is_model = declaration.KIND == Model.KIND
    return dg.asset(
        name=declaration.name,
        group_name=declaration.product,
        deps=list(table.deps),
        partitions_def=None if is_model else partitions_def,
        retry_policy=dg.RetryPolicy(max_retries=declaration.retries, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        metadata={} if is_model else {"partition_expr": "date"},
        io_manager_key=MODEL_IO_MANAGER_KEY if is_model else "io_manager",
    )(_compute(declaration))


@dg.definitions
def plain_defs() -> dg.Definitions:
    tables = catalog_tables(CatalogShape.from_env())
    partitions_def = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone=TIMEZONE, end_offset=1)
    by_product: dict[str, list[Table]] = {}
    for table in tables:
        by_product.setdefault(table.declaration.product, []).append(table)
    schedules = []
    for product, members in by_product.items():
        hour, minute = min(schedule_start(t.declaration) for t in members if t.declaration.KIND == PredictionTable.KIND)
        schedules.append(
            dg.ScheduleDefinition(
                name=f"{product}_schedule", cron_schedule=f"{minute} {hour} * * *", execution_timezone=TIMEZONE,
                target=dg.AssetSelection.assets(*(t.declaration.name for t in members)),
            )
        )
    database = local_duckdb_path()
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    return dg.Definitions(
        assets=[plain_asset(t, partitions_def) for t in tables],
        asset_checks=_all_plain_checks(tables),
        schedules=schedules,
        resources={
            "io_manager": DuckDBPandasIOManager(database=database, schema=SCHEMA),
            MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager(base_dir=str(Path(database).parent / "models")),
        },
    )


@dg.definitions
def plain_args_defs() -> dg.Definitions:
    """``plain_defs`` whose assets carry the platform's ``asset_kwargs()``; no platform assembly."""
    plain = plain_defs()
    tables = catalog_tables(CatalogShape.from_env())
    return dg.Definitions(
        assets=[platform_asset(t) for t in tables],
        asset_checks=_all_plain_checks(tables),
        schedules=plain.schedules,
        resources=plain.resources,
    )
