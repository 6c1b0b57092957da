"""Peak memory and duration of every asset step, recorded as materialization metadata.

Applied once at assembly (``with_step_metrics(assets)`` in ``definitions.py``) by wrapping
each single-output asset's compute function, so no product module changes.

What is measured, honestly:

- *Peak memory* is the resident-set high-water mark (Linux ``VmHWM``) of the process running
  the step, reset to the current RSS when the step's compute starts (``/proc/self/clear_refs``).
  Loaded inputs and the interpreter/Dagster baseline are included: that is what the container
  must hold. Writing the output (the IO manager) happens after and is not included.
  On a backend with one step per process (Kubernetes pod, SageMaker job, local process) this
  is the step's own peak. A local step forked from the run worker counts the pages it still
  shares with the run worker (interpreter, Dagster, the loaded code location) in its RSS, as a
  fresh process would count the same modules loaded again; what another step allocates never
  shows (tests/compute/test_routing_local.py). In-process runs (``dg.materialize``) execute steps one after
  another, so the reset still isolates each step. Without ``/proc`` (macOS) the value is
  ``ru_maxrss``, the process peak since start — an upper bound, flagged by ``peak_memory_source``.
- *Duration* is the wall time of the compute function.
- *Memory decision*: a step with automatic memory also records the size it ran with and why
  (``ml_platform/memory``, ``ml_platform/memory_reason``, ``ml_platform/memory_escalations``),
  which its launcher passed in the container's environment (``step_sizing``).
- *Cost*: a step whose asset has a compute profile records ``ml_platform/cost_usd``, the hourly
  price of its profile as paid for (the automatic size, if any) × its duration, and how it was
  computed (``pricing``).
"""

import functools
import inspect
import re
import resource
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from ml_platform.compute._dagster_step_api import DecoratedOpFunction, OpDefinition, with_compute_fn
from ml_platform.compute.pricing import cost_metadata
from ml_platform.compute.profiles import PROFILE_TAG, PROFILES, ComputeProfile
from ml_platform.compute.step_sizing import recorded_decision

PEAK_MEMORY_KEY = "ml_platform/peak_memory_mib"
DURATION_KEY = "ml_platform/step_duration_s"
MEMORY_SOURCE_KEY = "ml_platform/peak_memory_source"

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class PeakMemoryMeter:
    """Measures the process's peak RSS and wall time between ``start()`` and ``stop()``."""

    def start(self) -> "PeakMemoryMeter":
        try:
            _CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            self.source = "VmHWM"
        except OSError:
            self.source = "ru_maxrss"
        self._started = time.perf_counter()
        return self

    def stop(self) -> dict[str, float | str]:
        duration = time.perf_counter() - self._started
        peak_mib = _vm_hwm_mib() if self.source == "VmHWM" else _ru_maxrss_mib()
        return {PEAK_MEMORY_KEY: round(peak_mib, 1), DURATION_KEY: round(duration, 3), MEMORY_SOURCE_KEY: self.source}


def _vm_hwm_mib() -> float:
    match = re.search(r"^VmHWM:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    return int(match.group(1)) / 1024 if match else _ru_maxrss_mib()


def _ru_maxrss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _with_metadata(result, metadata: dict):
    if isinstance(result, dg.Output):
        return dg.Output(
            result.value, result.output_name, metadata={**(result.metadata or {}), **metadata},
            data_version=result.data_version, tags=result.tags,
        )
    if isinstance(result, dg.MaterializeResult):
        return dg.MaterializeResult(
            asset_key=result.asset_key, metadata={**(result.metadata or {}), **metadata},
            check_results=result.check_results, data_version=result.data_version, tags=result.tags, value=result.value,
        )
    return dg.Output(result, metadata=metadata)


def _measured(fn, profile: ComputeProfile | None):
    @functools.wraps(fn)  # keeps the signature Dagster reads (context, inputs, resources)
    def measured(*args, **kwargs):
        meter = PeakMemoryMeter().start()
        result = fn(*args, **kwargs)
        metrics, decision = meter.stop(), recorded_decision()
        cost = cost_metadata(profile, decision, float(metrics[DURATION_KEY])) if profile else {}
        return _with_metadata(result, {**metrics, **decision, **cost})

    # It returns an Output now; the output's type stays on the op's output definition.
    measured.__signature__ = inspect.signature(fn).replace(return_annotation=inspect.Signature.empty)
    measured.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "return"}
    return measured


def _is_measurable(assets_def: dg.AssetsDefinition) -> bool:
    op = assets_def.node_def
    return (
        isinstance(op, OpDefinition)
        and isinstance(op.compute_fn, DecoratedOpFunction)
        and len(op.output_defs) == 1
        and not inspect.isgeneratorfunction(op.compute_fn.decorated_fn)
        and not inspect.iscoroutinefunction(op.compute_fn.decorated_fn)
    )


def with_step_metrics(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The same assets, each recording peak memory and duration on its materializations.

    Multi-output, generator and async assets are returned unchanged.
    """
    return [_measure(a) if _is_measurable(a) else a for a in assets]


def _measure(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    op: OpDefinition = assets_def.node_def  # type: ignore[assignment]
    profile = PROFILES.get(op.tags.get(PROFILE_TAG, ""))
    measured = _measured(op.compute_fn.decorated_fn, profile)
    return dg.AssetsDefinition.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "node_def": with_compute_fn(op, DecoratedOpFunction(measured))}
    )
