"""Every internal ``dagster._…`` name the platform uses, each with the reason it has no public twin.

The only module under ``ml_platform`` that imports ``dagster._`` (tests/test_dagster_internal.py
enforces it), so a Dagster upgrade is checked against this one list. Pinned: dagster 1.13.27.
"""

# Cron arithmetic: no public cron iterator; the freshness daemon uses these very functions, so
# deadlines, schedule times and partition dates agree with the UI.
from dagster._utils.schedules import get_latest_completed_cron_tick, get_next_cron_tick, is_valid_cron_string

# Step delegation: Dagster exports no public step-handler API; dagster-k8s and dagster-aws build on these.
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,  # what check_step_health returns
    StepDelegatingExecutor,  # runs each step through a StepHandler
    StepHandler,  # base class of the k8s / SageMaker / local step handlers
    StepHandlerContext,  # what launch_step / terminate_step receive
)
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements  # executor requirements as dagster-k8s declares them
from dagster._core.definitions.decorators.op_decorator import DecoratedOpFunction  # the compute function an op wraps (step metrics)
from dagster._core.definitions.op_definition import OpDefinition  # the op whose compute function step metrics swap
from dagster._core.events import DagsterEvent, EngineEventData  # engine events a step handler reports
from dagster._core.execution.retries import RetryMode, get_retries_config  # the executor's retries config, as in dagster-k8s
from dagster._grpc.types import ExecuteStepArgs  # the arguments a step worker is launched with
from dagster._record import copy as copy_record  # copies ExecuteStepArgs (a Dagster record) with one field changed

# Storage: the IO-manager base with a swappable DB client, and reads with no public filter type.
from dagster._core.storage.db_io_manager import DbIOManager, TableSlice  # not exported; the warehouses swap its client
from dagster._core.event_api import PartitionKeyFilter  # the batched per-partition check read of the upstream gate
from dagster._core.storage.event_log import SqliteEventLogStorage  # tells run-sharded SQLite (no global storage ids) apart
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType  # schedule and sensor states in one read

__all__ = [
    "CheckStepHealthResult",
    "DagsterEvent",
    "DbIOManager",
    "DecoratedOpFunction",
    "EngineEventData",
    "ExecuteStepArgs",
    "InstigatorStatus",
    "InstigatorType",
    "OpDefinition",
    "PartitionKeyFilter",
    "RetryMode",
    "SqliteEventLogStorage",
    "StepDelegatingExecutor",
    "StepHandler",
    "StepHandlerContext",
    "TableSlice",
    "copy_record",
    "get_latest_completed_cron_tick",
    "get_next_cron_tick",
    "get_retries_config",
    "is_valid_cron_string",
    "multiple_process_executor_requirements",
]
