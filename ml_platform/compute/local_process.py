"""Run a step as a ``dagster api execute_step`` subprocess next to the run worker.

The local backend: every step in the local environment, and light steps in production.
Each step gets its own process, so its peak memory is its own (see ``step_metrics``).
"""

import os
import subprocess
import sys
from collections.abc import Iterator

from ml_platform.compute._dagster_step_api import (
    CheckStepHealthResult,
    DagsterEvent,
    EngineEventData,
    StepHandler,
    StepHandlerContext,
    step_attempt,
    step_key_of,
)

TERMINATE_GRACE_SECONDS = 10


def step_command_env(context: StepHandlerContext, step_key: str) -> dict[str, str]:
    """The env that carries the serialized step to ``dagster api execute_step``."""
    env = {item["name"]: item["value"] for item in context.execute_step_args.get_command_env()}
    env["DAGSTER_RUN_JOB_NAME"] = context.dagster_run.job_name
    env["DAGSTER_RUN_STEP_KEY"] = step_key
    return env


class LocalProcessStepHandler(StepHandler):
    def __init__(self):
        super().__init__()
        self._processes: dict[tuple[str, str, int], subprocess.Popen] = {}

    @property
    def name(self) -> str:
        return "LocalProcessStepHandler"

    def _id(self, context: StepHandlerContext) -> tuple[str, str, int]:
        step_key = step_key_of(context)
        return context.execute_step_args.run_id, step_key, step_attempt(context, step_key)

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = step_key_of(step_handler_context)
        args = list(step_handler_context.execute_step_args.get_command_args(skip_serialized_namedtuple=True))
        if args[0] == "dagster":  # same environment as the run worker, whether or not its bin is on PATH
            args[:1] = [sys.executable, "-m", "dagster"]
        process = subprocess.Popen(args, env={**os.environ, **step_command_env(step_handler_context, step_key)})
        self._processes[self._id(step_handler_context)] = process
        yield DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=f'Executing step "{step_key}" in local process {process.pid}.',
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
