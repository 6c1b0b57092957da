"""What every compute backend provides (``Backend``), and the values backends share.

A backend is one module in this package with one ``Backend`` object, registered in
``ml_platform.compute.backends.BACKENDS``. The router, sizing and pricing know a backend only
through this interface. Methods without a default must be written by every backend: a new backend
never inherits another's tags or price by accident.
"""

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import dagster as dg

if TYPE_CHECKING:  # only for annotations: profiles imports this package
    from ml_platform.compute._dagster_step_api import StepHandler, StepHandlerContext
    from ml_platform.compute.infrastructure_retry import InfrastructureFailure
    from ml_platform.compute.profiles import ComputeProfile

MIB, GIB = 2**20, 2**30
STEP = 256 * MIB  # continuous sizes are whole multiples of this: fewer distinct shapes, readable numbers
GROWTH = 1.5  # an out-of-memory step retries with at least this factor more memory
ON_DEMAND, SPOT = "on_demand", "spot"
CAPACITIES = (ON_DEMAND, SPOT)
_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ('512Mi', '16Gi', '1000000') in bytes."""
    for suffix, factor in _BINARY_SUFFIXES.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def quantity(memory_bytes: int) -> str:
    """Bytes as a Kubernetes quantity: whole GiB as 'NGi', else 'NMi'."""
    return f"{memory_bytes // GIB}Gi" if memory_bytes % GIB == 0 else f"{math.ceil(memory_bytes / MIB)}Mi"


def cpu_count(quantity: str) -> float:
    """A Kubernetes CPU quantity ('250m', '4') in vCPUs."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def grown(current_bytes: int, ceiling_bytes: int) -> int | None:
    """One continuous size up after an out-of-memory kill (×GROWTH, whole STEPs), or None at the ceiling."""
    bigger = max(math.ceil(current_bytes * GROWTH / STEP) * STEP, current_bytes + STEP)
    return min(bigger, ceiling_bytes) if current_bytes < ceiling_bytes else None


class PriceSheetError(ValueError):
    """A price sheet that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ResourceRates:
    vcpu_hour: float
    gib_hour: float
    gpu_hour: float = 0.0


@dataclass(frozen=True)
class StepPrice:
    """What one hour of a step costs, on what, and how that was computed."""

    usd_per_hour: float
    size: str  # "large: 4 vCPU, 16Gi" or "sagemaker_training: ml.m5.xlarge × 1"
    basis: str  # the formula with the prices used
    capacity: str = ON_DEMAND

    def cost(self, duration_s: float) -> float:
        return round(self.usd_per_hour * duration_s / 3600, 6)


@dataclass(frozen=True)
class SheetReader:
    """Reads one price sheet's fields, failing with the file and the field's name."""

    source: str

    def fail(self, field: str, problem: str) -> PriceSheetError:
        return PriceSheetError(f"price sheet {self.source}: field '{field}': {problem}")

    def table(self, value: Any, field: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(field, "missing" if value is None else f"expected a table, got {value!r}")
        return value

    def price(self, value: Any, field: str) -> float:
        if value is None:
            raise self.fail(field, "missing")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise self.fail(field, f"expected a non-negative number of USD, got {value!r}")
        return float(value)

    def rates(self, value: Any, field: str, gpu: bool) -> ResourceRates:
        section = self.table(value, field)
        names = ("vcpu_hour", "gib_hour", "gpu_hour") if gpu else ("vcpu_hour", "gib_hour")
        unknown = sorted(set(section) - set(names))
        if unknown:
            raise self.fail(f"{field}.{unknown[0]}", f"unknown (known: {', '.join(names)})")
        return ResourceRates(*(self.price(section.get(n), f"{field}.{n}") for n in names))


def resource_price(profile: "ComputeProfile", rates: ResourceRates, where: str, capacity: str = ON_DEMAND) -> StepPrice:
    """One hour of what the profile requests (vCPU, GiB, GPU) at ``rates``."""
    cpu, gib = cpu_count(profile.cpu), quantity_bytes(profile.memory) / GIB
    hourly = cpu * rates.vcpu_hour + gib * rates.gib_hour + profile.gpu * rates.gpu_hour
    terms = [f"{cpu:g} vCPU × ${rates.vcpu_hour:g}", f"{gib:g} GiB × ${rates.gib_hour:g}"]
    size = f"{profile.name}: {profile.cpu} vCPU, {profile.memory}"
    if profile.gpu:
        terms.append(f"{profile.gpu} GPU × ${rates.gpu_hour:g}")
        size += f", {profile.gpu} GPU"
    return StepPrice(round(hourly, 6), size, f"{where}: {' + '.join(terms)} = ${hourly:.4f}/h", capacity)


class SizeLadder(Protocol):
    """The sizes automatic memory may choose on a backend (Kubernetes node pools, SageMaker instance types)."""

    def problems(self, profile: "ComputeProfile", max_bytes: int, max_text: str | None) -> list[tuple[str, str]]:
        """Why automatic memory up to ``max_bytes`` cannot work on this profile (field, problem)."""

    def ceiling(self, profile: "ComputeProfile", max_bytes: int) -> int:
        """The most a step may get: ``max_bytes``, within what one node (or instance type) holds."""

    def fit(self, profile: "ComputeProfile", memory_bytes: int) -> int:
        """The memory a step asking for ``memory_bytes`` really gets (a size of the ladder)."""

    def next(self, profile: "ComputeProfile", current_bytes: int, ceiling_bytes: int) -> int | None:
        """One size up after an out-of-memory kill, or None if the ceiling is reached."""

    def sized(self, profile: "ComputeProfile", memory: str) -> "ComputeProfile":
        """The profile at this memory (and the node pool or instance type that holds it)."""

    def holder(self, profile: "ComputeProfile", memory_bytes: int) -> str:
        """What holds ``memory_bytes``, for the decision's reason (e.g. 'ml.m5.2xlarge')."""


class Backend(Protocol):
    """One place where steps run. Subclass it; write every abstract method."""

    name: str  # the value of a profile's ``backend`` and of the ``ml_platform/backend`` tag
    title: str  # for messages: "Kubernetes"
    remote: bool = False  # real only where the deployment says so (production); local is real everywhere
    options_type: type  # a frozen dataclass: the profile's fields only this backend reads (``profile.options``)
    ladder: SizeLadder | None = None  # None: no automatic memory
    usage_priced: bool = True  # a step that used more memory than it requested pays for its use
    failure_reasons: tuple[str, ...] = ()  # infrastructure_retry reasons its handler can diagnose

    # -- the declaration side: profiles and op tags (at load) --
    def problems(self, profile: "ComputeProfile") -> list[tuple[str, str]]:
        """Why this profile cannot run here (field, problem); checked when the profile is made."""
        return []

    def op_tags(self, profile: "ComputeProfile") -> dict[str, str]:
        """Extra op tags the step carries to its handler (the asset-graph snapshot includes them)."""
        return {}

    def interruptible(self, profile: "ComputeProfile") -> bool:
        """Whether the profile's attempts may run on spot capacity (``capacity``)."""
        return False

    @abstractmethod
    def sized_tags(self, profile: "ComputeProfile", tags: Mapping[str, str], capacity: str | None,
                   env: Mapping[str, str]) -> dict[str, str]:
        """The step's tags as its handler launches it: ``profile`` already sized, on ``capacity``
        (for an interruptible profile), with ``env`` for the step's container."""

    @abstractmethod
    def describe_size(self, profile: "ComputeProfile") -> str:
        """Where a sized step runs, for its launch event: 'node pool highmem', 'ml.m5.2xlarge'."""

    def with_launch_time(self, tags: Mapping[str, str], partitions: int) -> dict[str, str]:
        """The tags at launch, once ``step_usage.LAUNCHED_AT_TAG`` is set (a handler that reads the
        tag itself keeps them); ``partitions``: the partitions a ranged run's step computes."""
        return dict(tags)

    # -- pricing --
    @abstractmethod
    def parse_prices(self, sheet: SheetReader, section: Any) -> Any:
        """This backend's section of the price sheet (``section`` is None if the sheet has none)."""

    @abstractmethod
    def price(self, profile: "ComputeProfile", prices: Any, capacity: str) -> StepPrice:
        """One hour of ``profile`` (already sized) at ``prices`` (what ``parse_prices`` returned)."""

    # -- the run side: executor config, launch, health --
    @abstractmethod
    def config_field(self) -> dg.Field:
        """This backend's section of the routing executor's config."""

    def deployment_config(self) -> dict[str, Any]:
        """The section's defaults for every run of the code location, from the deployment's
        ``ML_PLATFORM_*`` variables, read when definitions load ({}: none); a run's own section wins."""
        return {}

    @abstractmethod
    def prepare(self, config: Mapping[str, Any]) -> Callable[["StepHandlerContext"], "StepHandler"]:
        """Called when a run's executor starts, for a backend that is real there: check the config
        (a bad one fails the run at start) and return what builds the step handler on first use."""

    def infrastructure_failure(self, handler: "StepHandler", context: "StepHandlerContext") -> "InfrastructureFailure | None":
        """Why an unhealthy step's container died, if the infrastructure killed it."""
        return None

    def attempt_times(self, handler: "StepHandler", context: "StepHandlerContext") -> tuple[float | None, float | None]:
        """(start, end) of a killed container, unix time, where the backend reports them."""
        return None, None
