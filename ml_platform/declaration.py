"""Declare an ML asset once: SLO, compute profile, partitions, retries, owner, data expectations.

Product modules use the short form in ``ml_platform.decorators`` (``@prediction_table(...)``);
it builds exactly::

    RECS = PredictionTable(
        name="article_recommendations", product="article_recs", owner="team:recs",
        slo=SLO("0 8 * * *", timezone="Asia/Tokyo"), compute="small",
        expectations=Expectations(key_columns=("user_id", "article_id"), score_column="score",
                                  score_range=(0.0, 1.0), top_k=10),
    )

    @dg.asset(**RECS.asset_kwargs())
    def article_recommendations(...): ...

``asset_kwargs()`` turns the declaration into plain Dagster arguments: a shared
``FreshnessPolicy.cron`` per deadline, a shared daily partitions definition per time zone,
op tags for the compute profile, owners, a retry policy, and the declaration itself as
definition metadata. Sensors, checks and the executor read it back from the asset graph
with ``read_declaration``; there is no second registry.
"""

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any, ClassVar, Iterable, Mapping
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from ml_platform import cron
from ml_platform.compute.auto_memory import AutoMemory
from ml_platform.compute.profiles import PROFILE_TAG, PROFILES
from ml_platform.monitoring.settings import Monitoring, callable_path

DECLARATION_KEY = "ml_platform/declaration"
KIND_TAG = "ml_platform/kind"
PRODUCT_TAG = "ml_platform/product"
INTERRUPTED_TAG = "ml_platform/interrupted"  # a run the CLI user stopped with Ctrl-C: not paged as a failure
MODEL_IO_MANAGER_KEY = "model_io_manager"

# First daily partition of every table. Partitions end one day ahead of the UTC-naive
# calendar (end_offset=1) so that today's partition exists: a prediction table for day D
# is produced before its consumer reads it on day D.
PARTITIONS_START = "2026-01-01"


class DeclarationError(ValueError):
    """A declaration that cannot become a valid asset; the message names asset and field."""


@dataclass(frozen=True)
class SLO:
    """The table must be fresh at every tick of ``deadline_cron`` (in ``timezone``).

    ``window``: how long before a deadline a materialization still counts for it (the
    freshness policy's lower bound). ``warn_margin``: warn this long before the deadline if
    the table is not fresh yet. ``start_before``: the product schedule starts this long
    before its earliest deadline.
    """

    deadline_cron: str
    timezone: str = "UTC"
    window: timedelta = timedelta(hours=24)
    warn_margin: timedelta | None = None
    start_before: timedelta = timedelta(hours=2)

    def problems(self) -> list[tuple[str, str]]:
        found = []
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            found.append(("slo.timezone", f"unknown time zone '{self.timezone}' (use an IANA name such as 'Asia/Tokyo')"))
        if not cron.is_valid_cron(self.deadline_cron):
            found.append(("slo.deadline_cron", f"invalid cron '{self.deadline_cron}' (five fields, e.g. '0 8 * * *')"))
        if self.window <= timedelta(0):
            found.append(("slo.window", f"must be positive, got {self.window}"))
        if self.warn_margin is not None and not timedelta(0) < self.warn_margin < self.window:
            found.append(("slo.warn_margin", f"must be between 0 and the window ({self.window}), got {self.warn_margin}"))
        if self.start_before < timedelta(0):
            found.append(("slo.start_before", f"must not be negative, got {self.start_before}"))
        return found

    def freshness_policy(self) -> dg.FreshnessPolicy:
        return _shared_freshness_policy(self.deadline_cron, self.window, self.timezone)

    @property
    def is_daily(self) -> bool:
        """A plain 'M H * * *' deadline: one per calendar day."""
        parts = self.deadline_cron.split()
        return len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit() and parts[2:] == ["*"] * 3

    def describe(self) -> str:
        return f"{self.deadline_cron} {self.timezone}"


@lru_cache(maxsize=None)
def _shared_freshness_policy(deadline_cron: str, window: timedelta, timezone: str) -> dg.FreshnessPolicy:
    # FreshnessPolicy.cron walks cron ticks when built: one object per distinct deadline.
    return dg.FreshnessPolicy.cron(deadline_cron=deadline_cron, lower_bound_delta=window, timezone=timezone)


@lru_cache(maxsize=None)
def daily_partitions(timezone: str) -> dg.DailyPartitionsDefinition:
    """One shared daily partitions definition per time zone (assets in a run must share it)."""
    return dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone=timezone, end_offset=1)


@dataclass(frozen=True)
class RowCountPolicy:
    """History-aware row-count tolerance (read by the row_count checks)."""

    history: int = 7  # materializations the median is taken over
    warn_drop: float = 0.10  # fall below the median that warns
    error_drop: float = 0.20  # fall below the median that errors
    spike: float = 0.50  # rise above the median that warns
    decline_window: int = 10  # partitions looked back for a gradual decline
    decline_drop: float = 0.15  # total fall over the window that errors, however small each step
    weekly_seasonality: bool = False  # compare with the same weekday (e.g. a table that dips at weekends)

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.history < 1:
            found.append(("expectations.row_count.history", f"must be at least 1, got {self.history}"))
        if not 0 < self.warn_drop <= self.error_drop < 1:
            found.append(("expectations.row_count", f"need 0 < warn_drop <= error_drop < 1, got {self.warn_drop}, {self.error_drop}"))
        if self.spike <= 0:
            found.append(("expectations.row_count.spike", f"must be positive, got {self.spike}"))
        if self.decline_window < 2 or not 0 < self.decline_drop < 1:
            found.append(("expectations.row_count", "need decline_window >= 2 and 0 < decline_drop < 1"))
        return found


@dataclass(frozen=True)
class Expectations:
    """What a correct table looks like (read by the data-quality checks).

    ``top_k``: every value of the first key column has exactly k rows (e.g. k articles per user).
    """

    key_columns: tuple[str, ...]
    score_column: str | None = None
    score_range: tuple[float, float] | None = None
    top_k: int | None = None
    max_null_rate: float = 0.0
    row_count: RowCountPolicy = field(default_factory=RowCountPolicy)

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if not self.key_columns:
            found.append(("expectations.key_columns", "must name at least one column"))
        if self.score_range is not None:
            low, high = self.score_range
            if low > high:
                found.append(("expectations.score_range", f"min {low} is greater than max {high}"))
            if self.score_column is None:
                found.append(("expectations.score_column", "a score_range needs a score_column"))
        if self.top_k is not None and self.top_k < 1:
            found.append(("expectations.top_k", f"must be at least 1, got {self.top_k}"))
        if not 0 <= self.max_null_rate <= 1:
            found.append(("expectations.max_null_rate", f"must be within [0, 1], got {self.max_null_rate}"))
        return found + self.row_count.problems()


@dataclass(frozen=True)
class MLAsset:
    """Base declaration; use ``PredictionTable``, ``FeatureTable`` or ``Model``."""

    KIND: ClassVar[str] = ""
    LABEL: ClassVar[str] = "ml asset"

    name: str
    product: str
    owner: str  # an email or 'team:<name>'
    slo: SLO
    compute: str  # a profile name from ml_platform.compute.profiles
    memory: AutoMemory | None = None  # AutoMemory(...): memory follows observed peaks (docs/compute.md)
    description: str = ""
    alert_channel: str | None = None  # overrides the severity channels for this asset
    partition_column: str | None = "date"  # None: not partitioned
    retries: int = 2
    retry_delay: timedelta = timedelta(minutes=1)
    expectations: Expectations | None = None

    def __post_init__(self):
        found = self.problems()
        if found:
            field_name, problem = found[0]
            more = f" (and {len(found) - 1} more: {', '.join(f for f, _ in found[1:])})" if len(found) > 1 else ""
            raise DeclarationError(f"{self.LABEL} '{self.name}': field '{field_name}': {problem}{more}")

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if not isinstance(self.slo, SLO):
            return [("slo", f"must be an SLO, got {type(self.slo).__name__}")]
        found += self.slo.problems()
        if self.compute not in PROFILES:
            found.append(("compute", f"unknown compute profile '{self.compute}' (known: {', '.join(PROFILES)})"))
        elif self.memory is not None:
            found += self.memory.problems(PROFILES[self.compute])
        if not (_is_email(self.owner) or (self.owner.startswith("team:") and len(self.owner) > 5)):
            found.append(("owner", f"'{self.owner}' is neither an email nor 'team:<name>'"))
        if self.retries < 0:
            found.append(("retries", f"must not be negative, got {self.retries}"))
        if self.alert_channel is not None and not self.alert_channel.startswith("#"):
            found.append(("alert_channel", f"'{self.alert_channel}' must be a channel name starting with '#'"))
        if self.expectations is not None:
            found += self.expectations.problems()
        return found

    @property
    def partitions_def(self) -> dg.DailyPartitionsDefinition | None:
        return daily_partitions(self.slo.timezone) if self.partition_column else None

    def retry_policy(self) -> dg.RetryPolicy:
        return dg.RetryPolicy(max_retries=self.retries, delay=self.retry_delay.total_seconds(), backoff=dg.Backoff.EXPONENTIAL)

    def asset_kwargs(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``@dg.asset`` that carry the declaration, merged with ``extra``:
        any other ``dg.asset`` argument (deps, ins, code_version, ...); tags, metadata, op_tags,
        owners and kinds are merged with the declaration's."""
        metadata: dict[str, Any] = {
            DECLARATION_KEY: dg.MetadataValue.json(self.to_dict()),
            "SLO deadline": self.slo.describe(),
            "compute profile": self.compute + (" (automatic memory)" if self.memory else ""),
        }
        if self.partition_column:
            metadata["partition_expr"] = self.partition_column  # read by the warehouse IO managers
        kwargs: dict[str, Any] = dict(
            name=self.name,
            group_name=self.product,
            owners=[self.owner],
            description=self.description or None,
            freshness_policy=self.slo.freshness_policy(),
            partitions_def=self.partitions_def,
            retry_policy=self.retry_policy(),
            op_tags={**PROFILES[self.compute].op_tags(), **(self.memory.op_tags() if self.memory else {})},
            pool=self.compute,  # instance concurrency limit per compute profile (deploy/set_pool_limits.sh)
            tags={KIND_TAG: self.KIND, PRODUCT_TAG: self.product, PROFILE_TAG: self.compute},
            metadata=metadata,
            kinds={"scikitlearn"} if self.KIND == Model.KIND else {"pandas"},
        )
        if self.KIND == Model.KIND:
            kwargs["io_manager_key"] = MODEL_IO_MANAGER_KEY
        return self._merged(kwargs, extra)

    def _merged(self, derived: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(derived)
        for argument, value in extra.items():
            if argument in _DERIVED_FROM:
                self._fail(argument, f"is derived from the declaration's '{_DERIVED_FROM[argument]}'; set that instead")
            elif argument in _MERGED_MAPPINGS:
                clashes = [k for k, v in value.items() if k in derived[argument] and derived[argument][k] != v]
                if clashes:
                    self._fail(f"{argument}['{clashes[0]}']", "is set by the declaration; use another key")
                merged[argument] = {**derived[argument], **value}
            elif argument == "owners":
                merged[argument] = [*derived[argument], *(o for o in value if o not in derived[argument])]
            elif argument == "kinds":
                merged[argument] = {*derived[argument], *value}
            else:
                merged[argument] = value
        return merged

    def _fail(self, field_name: str, problem: str):
        raise DeclarationError(f"{self.LABEL} '{self.name}': field '{field_name}': {problem}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: time deltas in seconds, tuples as lists, plus the kind."""
        data = _json_ready(self)
        data["kind"] = self.KIND
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "MLAsset":
        data = dict(data)
        cls = _KINDS[data.pop("kind")]
        slo = dict(data.pop("slo"))
        for key in ("window", "warn_margin", "start_before"):
            if slo.get(key) is not None:
                slo[key] = timedelta(seconds=slo[key])
        expectations = data.pop("expectations")
        if expectations is not None:
            expectations = Expectations(
                **{
                    **expectations,
                    "key_columns": tuple(expectations["key_columns"]),
                    "score_range": tuple(expectations["score_range"]) if expectations["score_range"] else None,
                    "row_count": RowCountPolicy(**expectations["row_count"]),
                }
            )
        names = field_names(cls)
        memory = data.pop("memory", None)
        monitoring = data.pop("monitoring", None)
        if monitoring is not None:
            data["monitoring"] = Monitoring(**{**monitoring, "segment_columns": tuple(monitoring["segment_columns"])})
        return cls(
            slo=SLO(**slo),
            memory=AutoMemory(**memory) if memory else None,
            expectations=expectations,
            retry_delay=timedelta(seconds=data.pop("retry_delay")),
            **{k: v for k, v in data.items() if k in names},
        )


@dataclass(frozen=True)
class PredictionTable(MLAsset):
    """A daily-partitioned table of predictions that another team's service reads."""

    KIND: ClassVar[str] = "prediction_table"
    LABEL: ClassVar[str] = "prediction table"

    # Drift, coverage and delayed-label performance (docs/prediction_monitoring.md). None: the
    # defaults, on whenever expectations name a score_column; Monitoring(enabled=False): off.
    monitoring: Monitoring | None = None

    def problems(self) -> list[tuple[str, str]]:
        found = super().problems()
        if not self.partition_column:
            found.append(("partition_column", "a prediction table is daily-partitioned: name its date column"))
        if self.expectations is None:
            found.append(("expectations", "a prediction table must declare its key and score columns"))
        if self.monitoring is not None:
            if not isinstance(self.monitoring, Monitoring):
                found.append(("monitoring", f"must be a Monitoring(...), got {type(self.monitoring).__name__}"))
            else:
                score_column = self.expectations.score_column if self.expectations else None
                found += self.monitoring.problems(score_column)
        return found

    def monitoring_settings(self) -> Monitoring | None:
        """The effective monitoring of this table, or None when it is not monitored."""
        if self.expectations is None or self.expectations.score_column is None:
            return None
        settings = self.monitoring or Monitoring()
        return settings.for_table(self.expectations.key_columns, self.expectations.top_k) if settings.enabled else None


@dataclass(frozen=True)
class FeatureTable(MLAsset):
    """A daily-partitioned input table (features, interactions) that models and predictions read."""

    KIND: ClassVar[str] = "feature_table"
    LABEL: ClassVar[str] = "feature table"

    def problems(self) -> list[tuple[str, str]]:
        found = super().problems()
        if not self.partition_column:
            found.append(("partition_column", "a feature table is daily-partitioned: name its date column"))
        return found


@dataclass(frozen=True)
class Model(MLAsset):
    """A trained model (pickled by the model IO manager), retrained on its own SLO, e.g. weekly."""

    KIND: ClassVar[str] = "model"
    LABEL: ClassVar[str] = "model"
    partition_column: str | None = None

    def problems(self) -> list[tuple[str, str]]:
        found = super().problems()
        if self.partition_column:
            found.append(("partition_column", "models are not partitioned"))
        return found


@lru_cache(maxsize=None)
def field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


# ``dg.asset`` arguments the declaration sets: a second value would contradict what the
# sensors, checks and executor read back from the asset graph.
_DERIVED_FROM = {
    "name": "name",
    "group_name": "product",
    "freshness_policy": "slo",
    "partitions_def": "partition_column",
    "retry_policy": "retries",
    "pool": "compute",
}
_MERGED_MAPPINGS = ("tags", "metadata", "op_tags")

_KINDS: dict[str, type[MLAsset]] = {c.KIND: c for c in (PredictionTable, FeatureTable, Model)}


def read_declaration(metadata: Mapping[str, Any]) -> MLAsset | None:
    """The declaration stored on an asset's definition metadata, or None for other assets."""
    value = metadata.get(DECLARATION_KEY)
    if value is None:
        return None
    return MLAsset.from_dict(value.data if isinstance(value, dg.JsonMetadataValue) else value)


def declaration_of(asset: dg.AssetsDefinition) -> MLAsset:
    """The declaration carried by a declared asset (e.g. one made by ``@prediction_table``)."""
    declaration = read_declaration(asset.get_asset_spec().metadata)
    if declaration is None:
        raise ValueError(f"asset '{asset.key.to_user_string()}' carries no ml_platform declaration")
    return declaration


def declarations(asset_graph) -> dict[dg.AssetKey, MLAsset]:
    """Every declared asset in an asset graph (``defs.resolve_asset_graph()`` or a sensor's
    ``context.repository_def.asset_graph``), keyed by asset key. Read once per graph: a code
    server keeps its repository's graph across sensor ticks, so a tick does not parse again."""
    found = _BY_GRAPH.get(asset_graph)
    if found is None:
        found = {}
        for node in asset_graph.asset_nodes:
            declaration = read_declaration(node.metadata)
            if declaration is not None:
                found[node.key] = declaration
        _BY_GRAPH[asset_graph] = found
    return dict(found)  # a copy: callers may filter it


_BY_GRAPH: "WeakKeyDictionary[Any, dict[dg.AssetKey, MLAsset]]" = WeakKeyDictionary()

Catalog = Mapping[dg.AssetKey, MLAsset]  # the declarations of a code location, read once (``declared_specs``)


def declared_specs(assets: Iterable[dg.AssetsDefinition | dg.AssetSpec]) -> dict[dg.AssetKey, MLAsset]:
    """Every declared asset among assets definitions or specs (before Definitions exist): the
    catalog that assembly reads once per load and hands to every builder."""
    return {
        spec.key: declaration
        for item in assets
        for spec in getattr(item, "specs", [item])
        if (declaration := read_declaration(spec.metadata)) is not None
    }


def _is_email(owner: str) -> bool:
    name, _, domain = owner.partition("@")
    return bool(name) and "." in domain and " " not in owner


def _json_ready(value):
    # What a json.dumps/json.loads round trip of ``asdict`` gives, without the round trip:
    # asset_kwargs() runs once per asset at load, so this is on the code-location load path.
    if is_dataclass(value):
        return {f.name: _json_ready(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (tuple, list)):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    if callable(value):  # a monitoring metric: stored by its import path
        return callable_path(value)
    raise TypeError(f"cannot serialise {value!r}")
