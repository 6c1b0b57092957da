"""What a step costs: the price sheet, and the cost each materialization records.

The price sheet (``price_sheet.toml`` next to this module, or the file ``ML_PLATFORM_PRICE_SHEET``
names) has one section per backend, which that backend reads (``Backend.parse_prices``); in USD:

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

from ml_platform.compute.auto_memory import MEMORY_KEY
from ml_platform.compute.backends import BACKENDS, backend_of
from ml_platform.compute.backends.base import (
    CAPACITIES,
    ON_DEMAND,
    SPOT,
    PriceSheetError,
    ResourceRates,
    SheetReader,
    StepPrice,
    cpu_count,
)
from ml_platform.compute.backends.kubernetes import CAPACITY_ENV
from ml_platform.compute.profiles import ComputeProfile, quantity_bytes

__all__ = ["CAPACITIES", "ON_DEMAND", "SPOT", "PriceSheet", "PriceSheetError", "ResourceRates", "StepPrice", "cpu_count"]

PRICE_SHEET_ENV = "ML_PLATFORM_PRICE_SHEET"
DEFAULT_PRICE_SHEET = Path(__file__).with_name("price_sheet.toml")

# On every materialization of a step with a compute profile (step_metrics).
COST_KEY = "ml_platform/cost_usd"
COST_RATE_KEY = "ml_platform/cost_usd_per_hour"
COST_SIZE_KEY = "ml_platform/cost_size"  # what was paid for, e.g. "large: 4 vCPU, 16Gi" (a change explains a cost jump)
COST_BASIS_KEY = "ml_platform/cost_basis"  # the formula, with the prices used
COST_ERROR_KEY = "ml_platform/cost_error"  # instead of a cost when the price sheet is unusable
COST_ESTIMATE_KEY = "ml_platform/cost_estimate"  # True: ran as a local process, priced as its declared backend


@dataclass(frozen=True)
class PriceSheet:
    source: str
    sections: Mapping[str, Any]  # backend name -> its prices, as the backend parsed them

    @staticmethod
    def parse(data: Mapping[str, Any], source: str) -> "PriceSheet":
        reader = SheetReader(source)
        unknown = sorted(set(data) - set(BACKENDS))
        if unknown:
            raise reader.fail(unknown[0], f"unknown section (known: {', '.join(BACKENDS)})")
        return PriceSheet(source, {name: backend.parse_prices(reader, data.get(name)) for name, backend in BACKENDS.items()})


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


def hourly_price(profile: ComputeProfile, sheet: PriceSheet, capacity: str = ON_DEMAND) -> StepPrice:
    """One hour of ``profile`` (already sized) on ``capacity``, priced by its backend."""
    return backend_of(profile).price(profile, sheet.sections[profile.backend], capacity)


def as_paid(profile: ComputeProfile, decision: Mapping[str, Any]) -> ComputeProfile:
    """The profile with the memory automatic memory chose (``step_sizing.recorded_decision``), if any."""
    memory = decision.get(MEMORY_KEY)
    ladder = backend_of(profile).ladder
    return ladder.sized(profile, memory) if memory and ladder is not None else profile


def cost_metadata(profile: ComputeProfile, decision: Mapping[str, Any], duration_s: float, peak_mib: float | None = None,
                  estimate: bool = False, capacity: str | None = None) -> dict[str, float | str | bool]:
    """The cost metadata of one attempt: max(request, usage) × ``duration_s`` (wall time plus start-up).
    A price sheet problem is recorded, not raised (a step's data is not lost over pricing; the cost
    report shows the attempt as unpriced)."""
    capacity = capacity or dg.EnvVar(CAPACITY_ENV).get_value() or ON_DEMAND  # set in an interruptible step's pod
    paid = as_paid(profile, decision)
    used = ""
    if peak_mib is not None and backend_of(paid).usage_priced and peak_mib * 2**20 > quantity_bytes(paid.memory):
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
