"""What a step costs: the price sheet, and the cost each materialization records.

The price sheet (``price_sheet.toml`` next to this module, or the file ``ML_PLATFORM_PRICE_SHEET``
names) gives, in USD:

- Kubernetes: per vCPU-hour, GiB-hour and GPU-hour of what a step's pod requests, on-demand and spot;
- SageMaker: per instance-hour by instance type (Processing Jobs have no managed spot: on-demand only);
- local: per vCPU-hour and GiB-hour of a ``local`` profile (0 by default: it runs beside the run worker).

Every attempt of a step is priced, as OpenCost allocates: max(request, usage) × (wall time + start-up),
where the request is the size its backend is asked for — the declared profile, or the size automatic
memory chose for it (``step_sizing``) — and the usage its recorded peak memory (a pod's memory limit
equals its request, so on Kubernetes the request; a local run may use more than it declares). In production that is what the
step's pod or job requests; in the local environment, where every step runs as a local process, it is
what the step would cost on its declared backend. The sheet is read when a step finishes or a report
runs (``dg.EnvVar``), never at import: a changed file applies from the next step on.
"""

import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import dagster as dg

from ml_platform.compute.auto_memory import MEMORY_KEY, instance_for
from ml_platform.compute.kubernetes import CAPACITY_ENV
from ml_platform.compute.profiles import KUBERNETES, LOCAL, SAGEMAKER, ComputeProfile, quantity_bytes

PRICE_SHEET_ENV = "ML_PLATFORM_PRICE_SHEET"
DEFAULT_PRICE_SHEET = Path(__file__).with_name("price_sheet.toml")
ON_DEMAND, SPOT = "on_demand", "spot"  # as ml_platform.compute.kubernetes names them
CAPACITIES = (ON_DEMAND, SPOT)

# On every materialization of a step with a compute profile (step_metrics).
COST_KEY = "ml_platform/cost_usd"
COST_RATE_KEY = "ml_platform/cost_usd_per_hour"
COST_SIZE_KEY = "ml_platform/cost_size"  # what was paid for, e.g. "large: 4 vCPU, 16Gi" (a change explains a cost jump)
COST_BASIS_KEY = "ml_platform/cost_basis"  # the formula, with the prices used
COST_ERROR_KEY = "ml_platform/cost_error"  # instead of a cost when the price sheet is unusable
COST_ESTIMATE_KEY = "ml_platform/cost_estimate"  # True: ran as a local process, priced as its declared backend
GIB = 2**30


class PriceSheetError(ValueError):
    """A price sheet that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ResourceRates:
    vcpu_hour: float
    gib_hour: float
    gpu_hour: float = 0.0


@dataclass(frozen=True)
class PriceSheet:
    source: str
    kubernetes: Mapping[str, ResourceRates]  # capacity -> rates
    sagemaker: Mapping[str, float]  # instance type -> USD per instance-hour
    local: ResourceRates

    @staticmethod
    def parse(data: Mapping[str, Any], source: str) -> "PriceSheet":
        def fail(field: str, problem: str) -> PriceSheetError:
            return PriceSheetError(f"price sheet {source}: field '{field}': {problem}")

        def table(value: Any, field: str) -> Mapping[str, Any]:
            if not isinstance(value, Mapping):
                raise fail(field, "missing" if value is None else f"expected a table, got {value!r}")
            return value

        def price(value: Any, field: str) -> float:
            if value is None:
                raise fail(field, "missing")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise fail(field, f"expected a non-negative number of USD, got {value!r}")
            return float(value)

        def rates(value: Any, field: str, gpu: bool) -> ResourceRates:
            section = table(value, field)
            names = ("vcpu_hour", "gib_hour", "gpu_hour") if gpu else ("vcpu_hour", "gib_hour")
            unknown = sorted(set(section) - set(names))
            if unknown:
                raise fail(f"{field}.{unknown[0]}", f"unknown (known: {', '.join(names)})")
            return ResourceRates(*(price(section.get(n), f"{field}.{n}") for n in names))

        unknown = sorted(set(data) - {"kubernetes", "sagemaker", "local"})
        if unknown:
            raise fail(unknown[0], "unknown section (known: kubernetes, sagemaker, local)")
        kubernetes = table(data.get("kubernetes"), "kubernetes")
        instance_hours = table(table(data.get("sagemaker"), "sagemaker").get("instance_hour"), "sagemaker.instance_hour")
        return PriceSheet(
            source=source,
            kubernetes={c: rates(kubernetes.get(c), f"kubernetes.{c}", gpu=True) for c in CAPACITIES},
            sagemaker={t: price(v, f'sagemaker.instance_hour."{t}"') for t, v in instance_hours.items()},
            local=rates(data.get("local"), "local", gpu=False),
        )

    def instance_hour(self, instance_type: str) -> float:
        if instance_type not in self.sagemaker:
            raise PriceSheetError(
                f'price sheet {self.source}: field \'sagemaker.instance_hour."{instance_type}"\': missing (a profile uses this instance type)'
            )
        return self.sagemaker[instance_type]


def load_price_sheet(path: str | Path | None = None) -> PriceSheet:
    """The sheet at ``path``, else at ``ML_PLATFORM_PRICE_SHEET``, else the default one."""
    path = Path(path or dg.EnvVar(PRICE_SHEET_ENV).get_value() or DEFAULT_PRICE_SHEET)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise PriceSheetError(f"price sheet {path}: cannot be read ({error.strerror}); set {PRICE_SHEET_ENV} to a TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise PriceSheetError(f"price sheet {path}: not valid TOML ({error})") from None
    return PriceSheet.parse(data, str(path))


@dataclass(frozen=True)
class StepPrice:
    """What one hour of a step costs, on what, and how that was computed."""

    usd_per_hour: float
    size: str  # "large: 4 vCPU, 16Gi" or "sagemaker_training: ml.m5.xlarge × 1"
    basis: str  # the formula with the prices used
    capacity: str = ON_DEMAND

    def cost(self, duration_s: float) -> float:
        return round(self.usd_per_hour * duration_s / 3600, 6)


def cpu_count(quantity: str) -> float:
    """A Kubernetes CPU quantity ('250m', '4') in vCPUs."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def hourly_price(profile: ComputeProfile, sheet: PriceSheet, capacity: str = ON_DEMAND) -> StepPrice:
    """One hour of ``profile`` (already sized) on ``capacity``; SageMaker is always on-demand."""
    if profile.backend == SAGEMAKER:
        each = sheet.instance_hour(profile.sagemaker_instance_type)
        count = profile.sagemaker_instance_count
        return StepPrice(
            round(each * count, 6),
            f"{profile.name}: {profile.sagemaker_instance_type} × {count}",
            f"sagemaker on-demand (Processing has no spot): {count} × {profile.sagemaker_instance_type} × ${each:g}/h",
        )
    cpu, gib = cpu_count(profile.cpu), quantity_bytes(profile.memory) / GIB
    rates = sheet.kubernetes[capacity] if profile.backend == KUBERNETES else sheet.local
    where = f"kubernetes {capacity.replace('_', '-')}" if profile.backend == KUBERNETES else LOCAL
    hourly = cpu * rates.vcpu_hour + gib * rates.gib_hour + profile.gpu * rates.gpu_hour
    terms = [f"{cpu:g} vCPU × ${rates.vcpu_hour:g}", f"{gib:g} GiB × ${rates.gib_hour:g}"]
    size = f"{profile.name}: {profile.cpu} vCPU, {profile.memory}"
    if profile.gpu:
        terms.append(f"{profile.gpu} GPU × ${rates.gpu_hour:g}")
        size += f", {profile.gpu} GPU"
    return StepPrice(round(hourly, 6), size, f"{where}: {' + '.join(terms)} = ${hourly:.4f}/h", capacity if profile.backend == KUBERNETES else ON_DEMAND)


def as_paid(profile: ComputeProfile, decision: Mapping[str, Any]) -> ComputeProfile:
    """The profile with the memory automatic memory chose (``step_sizing.recorded_decision``), if any."""
    memory = decision.get(MEMORY_KEY)
    if not memory or profile.backend == LOCAL:
        return profile
    if profile.backend == SAGEMAKER:
        return replace(profile, memory=memory, sagemaker_instance_type=instance_for(profile, quantity_bytes(memory)))
    return replace(profile, memory=memory)


def cost_metadata(profile: ComputeProfile, decision: Mapping[str, Any], duration_s: float, peak_mib: float | None = None,
                  estimate: bool = False, capacity: str | None = None) -> dict[str, float | str | bool]:
    """The cost metadata of one attempt: max(request, usage) × ``duration_s`` (wall time plus start-up).
    A price sheet problem is recorded, not raised (a step's data is not lost over pricing; the cost
    report shows the attempt as unpriced)."""
    capacity = capacity or dg.EnvVar(CAPACITY_ENV).get_value() or ON_DEMAND  # set in an interruptible step's pod
    paid = as_paid(profile, decision)
    used = ""
    if peak_mib is not None and paid.backend != SAGEMAKER and peak_mib * 2**20 > quantity_bytes(paid.memory):
        paid, used = replace(paid, memory=f"{math.ceil(peak_mib)}Mi"), f" (used {peak_mib:g} MiB, above its request)"
    try:
        price = hourly_price(paid, load_price_sheet(), capacity if capacity in CAPACITIES else ON_DEMAND)
    except PriceSheetError as error:
        return {COST_ERROR_KEY: str(error)}
    label = "estimate, ran locally: " if estimate else ""
    return {
        COST_KEY: price.cost(duration_s),
        COST_RATE_KEY: price.usd_per_hour,
        COST_SIZE_KEY: price.size,
        COST_BASIS_KEY: f"{label}{price.basis}{used} × {duration_s:g} s",
        COST_ESTIMATE_KEY: estimate,
    }
