"""The local backend: run a step in its own local process next to the run worker.

Every step in the local environment, and light steps in production.
Each step gets its own process, so its peak memory is its own (see ``step_metrics``) and
terminating it cannot touch another step.

How the process starts (``start_method``):

- ``fork`` (default): the process is forked from the run worker, which has already imported
  and loaded the code location, and runs the same code as ``dagster api execute_step`` with a
  fresh instance of its own. A step starts in a fraction of a second instead of paying Python
  start-up, every import and a code-location load.
- ``spawn``: a new ``dagster api execute_step`` interpreter, as Dagster's step workers start.
  For platforms without ``fork`` (Windows) or a run worker whose threads must not be forked.

Forked steps share what the run worker has imported. The code location imports no statistics,
training or plotting library at load (every code server and daemon loads it), so before its first
forked step the run worker imports the ones steps use (``PRELOAD``: the platform's drift, plot and
metric libraries; the example products' scikit-learn), once, instead of every step process
importing them again.

Forking a process that has threads copies only the forking thread; the run worker's own
threads (Dagster's termination, cancellation and metrics pollers) each use their own instance
and are never touched by the step, which builds a new instance from the step's instance ref,
resets the signal handlers to their defaults and ends with ``os._exit``.
"""

import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ml_platform.compute._dagster_step_api import (
    CheckStepHealthResult,
    DagsterEvent,
    EngineEventData,
    ExecuteStepArgs,
    StepHandler,
    StepHandlerContext,
    execute_step_in_this_process,
    step_attempt,
    step_key_of,
)
from ml_platform.compute.backends.base import Backend, SheetReader, StepPrice, resource_price
from ml_platform.compute.step_usage import LAUNCHED_AT_ENV, LAUNCHED_AT_TAG, reset_peak

TERMINATE_GRACE_SECONDS = 10
FORK, SPAWN = "fork", "spawn"
START_METHODS = (FORK, SPAWN)
START_METHOD_ENV = "ML_PLATFORM_LOCAL_START_METHOD"  # the code location's default, read when definitions load
PRELOAD = ("scipy.stats", "sklearn.metrics", "ml_platform.monitoring.plots")


def preload(modules: tuple[str, ...]) -> None:
    """Imports ``modules`` in this process (those installed), so processes forked from it share them."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def step_command_env(context: StepHandlerContext, step_key: str) -> dict[str, str]:
    """The env that carries the serialized step to ``dagster api execute_step``."""
    env = {item["name"]: item["value"] for item in context.execute_step_args.get_command_env()}
    env["DAGSTER_RUN_JOB_NAME"] = context.dagster_run.job_name
    env["DAGSTER_RUN_STEP_KEY"] = step_key
    launched_at = context.step_tags[step_key].get(LAUNCHED_AT_TAG)
    if launched_at:
        env[LAUNCHED_AT_ENV] = launched_at
    return env


def _run_forked_step(step_args: ExecuteStepArgs, env: Mapping[str, str]) -> None:
    """The forked child: the step's own environment and signal handling, then the step."""
    for signum in (signal.SIGTERM, signal.SIGINT):  # terminate_step's SIGTERM ends the step as it ends a subprocess
        signal.signal(signum, signal.SIG_DFL)
    reset_peak()  # the high-water mark inherited from the run worker is not the step's
    os.environ.clear()
    os.environ.update(env)
    execute_step_in_this_process(step_args)


class _ForkedStep:
    """A forked step process with the part of ``subprocess.Popen``'s interface the handler uses."""

    def __init__(self, step_args: ExecuteStepArgs, env: Mapping[str, str]):
        self._process = multiprocessing.get_context(FORK).Process(target=_run_forked_step, args=(step_args, dict(env)), daemon=False)
        self._process.start()
        self.pid = self._process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(f"step process {self.pid}", timeout)
        return self._process.exitcode

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


class LocalProcessStepHandler(StepHandler):
    def __init__(self, start_method: str = FORK):
        super().__init__()
        if start_method not in START_METHODS:
            raise ValueError(f"local backend: unknown start_method '{start_method}' (known: {', '.join(START_METHODS)})")
        if start_method == FORK and FORK not in multiprocessing.get_all_start_methods():
            raise ValueError(f"local backend: start_method 'fork' is not available on {sys.platform}; use 'spawn'")
        self._start_method = start_method
        self._processes: dict[tuple[str, str, int], subprocess.Popen | _ForkedStep] = {}

    @property
    def name(self) -> str:
        return "LocalProcessStepHandler"

    def _id(self, context: StepHandlerContext) -> tuple[str, str, int]:
        step_key = step_key_of(context)
        return context.execute_step_args.run_id, step_key, step_attempt(context, step_key)

    def _start(self, context: StepHandlerContext, step_key: str) -> subprocess.Popen | _ForkedStep:
        env = {**os.environ, **step_command_env(context, step_key)}
        if self._start_method == FORK:
            preload(PRELOAD)  # once per run worker: imported modules are cached in sys.modules
            return _ForkedStep(context.execute_step_args, env)
        args = list(context.execute_step_args.get_command_args(skip_serialized_namedtuple=True))
        if args[0] == "dagster":  # same environment as the run worker, whether or not its bin is on PATH
            args[:1] = [sys.executable, "-m", "dagster"]
        return subprocess.Popen(args, env=env)

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = step_key_of(step_handler_context)
        process = self._start(step_handler_context, step_key)
        self._processes[self._id(step_handler_context)] = process
        yield DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=f'Executing step "{step_key}" in local process {process.pid} ({self._start_method}).',
            metadata={"pid": str(process.pid)},
        )

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        step_key = step_key_of(step_handler_context)
        process = self._processes.get(self._id(step_handler_context))
        if process is None:
            return CheckStepHealthResult.unhealthy(f"no local process was launched for step {step_key}")
        code = process.poll()
        if code not in (None, 0):
            return CheckStepHealthResult.unhealthy(f"local process {process.pid} for step {step_key} exited with code {code}")
        return CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = step_key_of(step_handler_context)
        process = self._processes.get(self._id(step_handler_context))
        if process is None or process.poll() is not None:
            return
        yield DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            message=f"Stopping local process {process.pid} for step {step_key}",
            event_specific_data=EngineEventData(),
        )
        process.terminate()
        try:
            process.wait(TERMINATE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass(frozen=True)
class LocalOptions:
    """A local profile has no fields of its own."""


class LocalBackend(Backend):
    """Real everywhere; no size ladder (a local step takes what it needs), priced per vCPU and GiB requested."""

    name, title, remote = "local", "local", False
    options_type = LocalOptions

    def sized_tags(self, profile, tags, capacity, env) -> dict[str, str]:
        return dict(tags)  # never sized: no ladder, no spot

    def describe_size(self, profile) -> str:
        return "a local process"

    def parse_prices(self, sheet: SheetReader, section: Any):
        return sheet.rates(section, self.name, gpu=False)

    def price(self, profile, prices, capacity: str) -> StepPrice:
        return resource_price(profile, prices, self.name)

    def config_field(self) -> dg.Field:
        return dg.Field(
            {
                "start_method": dg.Field(
                    dg.Enum("LocalStartMethod", [dg.EnumValue(m) for m in START_METHODS]), default_value=FORK,
                    description="fork: from the run worker, code location already loaded; spawn: a new `dagster api execute_step` process.",
                ),
            },
            is_required=False,
        )

    def deployment_config(self) -> dict[str, Any]:
        start_method = dg.EnvVar(START_METHOD_ENV).get_value()
        if not start_method:
            return {}
        if start_method not in START_METHODS:
            raise ValueError(f"{START_METHOD_ENV}='{start_method}': expected one of {', '.join(START_METHODS)}")
        return {"start_method": start_method}

    def prepare(self, config: Mapping[str, Any]):
        start_method = config.get("start_method", FORK)
        return lambda context: LocalProcessStepHandler(start_method)


LOCAL = LocalBackend()
