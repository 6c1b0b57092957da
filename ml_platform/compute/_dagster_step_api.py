"""The Dagster step-delegation API that custom step handlers are built on, and the helpers the
compute modules share over it.

Dagster exports no public base class for step handlers: dagster-k8s and dagster-aws build
theirs on the same internal modules (imported in ``ml_platform._dagster_internal``).
"""

import copy
from collections.abc import Mapping

import dagster as dg

from ml_platform._dagster_internal import (
    CheckStepHealthResult,
    DagsterEvent,
    DecoratedOpFunction,
    EngineEventData,
    ExecuteStepArgs,
    OpDefinition,
    RetryMode,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
    copy_record,
    execute_step_command,
    get_retries_config,
    multiple_process_executor_requirements,
    plan_steps,
    replace_compute_fn,
    with_plan_steps,
)

__all__ = [
    "CheckStepHealthResult",
    "DagsterEvent",
    "DecoratedOpFunction",
    "EngineEventData",
    "ExecuteStepArgs",
    "OpDefinition",
    "RetryMode",
    "StepDelegatingExecutor",
    "StepHandler",
    "StepHandlerContext",
    "execute_step_in_this_process",
    "get_retries_config",
    "multiple_process_executor_requirements",
    "retagged",
    "step_args_without_instance_ref",
    "step_asset_keys",
    "step_attempt",
    "step_key_of",
    "with_compute_fn",
]


def step_key_of(context: StepHandlerContext) -> str:
    keys = context.execute_step_args.step_keys_to_execute or []
    if len(keys) != 1:
        raise ValueError(f"a step handler launches one step at a time, got {keys}")
    return keys[0]


def step_attempt(context: StepHandlerContext, step_key: str) -> int:
    """0 for the first attempt; Dagster's retries launch a new worker per attempt."""
    known_state = context.execute_step_args.known_state
    return known_state.get_retry_state().get_attempt_count(step_key) if known_state else 0


def with_compute_fn(op: OpDefinition, compute_fn: DecoratedOpFunction) -> OpDefinition:
    """The same op with another compute function of the same signature.

    Rebuilding the op through its constructor re-resolves inputs, outputs, config and type
    hints from scratch (most of the cost of wrapping every asset at load); with an unchanged
    signature all of that would come out the same, so only the function is swapped on a copy.
    """
    if compute_fn.positional_inputs() != op.compute_fn.positional_inputs():
        raise ValueError(f"op '{op.name}': a replacement compute function must keep the inputs of the original")
    replaced = copy.copy(op)
    replace_compute_fn(replaced, compute_fn)
    return replaced


def step_args_without_instance_ref(context: StepHandlerContext) -> ExecuteStepArgs:
    """The step's arguments minus the launcher's instance ref: the step loads its own DAGSTER_HOME."""
    return copy_record(context.execute_step_args, instance_ref=None)


def execute_step_in_this_process(step_args: ExecuteStepArgs) -> None:
    """What ``dagster api execute_step`` does with these arguments, in the calling process."""
    execute_step_command().callback(input_json=dg.serialize_value(step_args), compressed_input_json=None)
def step_asset_keys(context: StepHandlerContext, step_key: str) -> list[dg.AssetKey]:
    """The assets the step materializes, from its outputs in the execution plan."""
    step = plan_steps(context)[step_key]
    return [output.properties.asset_key for output in step.step_outputs if output.properties.asset_key]


def retagged(context: StepHandlerContext, tags: Mapping[str, str], verify_step: bool) -> StepHandlerContext:
    """The same one-step context with other step tags (a decided size) and, for a deliberate
    relaunch of an attempt whose container is gone, without Dagster's duplicate-launch check
    (``should_verify_step`` refuses a second container for an attempt that already started)."""
    (step,) = plan_steps(context).values()  # one step per context
    args = context.execute_step_args
    if not verify_step:
        args = copy_record(args, should_verify_step=False)
    return with_plan_steps(context, [step._replace(tags=tags)], args)
