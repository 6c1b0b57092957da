"""Every internal ``dagster._…`` name the platform uses, each with the reason it has no public twin.

The only module under ``ml_platform`` that imports ``dagster._`` (tests/test_dagster_internal.py
enforces it), so a Dagster upgrade is checked against this one list. Pinned: dagster 1.13.27.
"""

# Sorted by module; one reason per name. Step delegation: Dagster exports no public step-handler
# API, and dagster-k8s / dagster-aws build their step handlers on these same modules.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # not exported; a ranged run's
    AssetCheckEvaluationTargetMaterializationData,  # check evaluation points at its own partition's materialization
)
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset  # a backfill's partition sets
from dagster._core.definitions.decorators.op_decorator import DecoratedOpFunction  # an op's compute fn (step metrics)
from dagster._core.definitions.events import AssetKeyPartitionKey  # one asset partition, what AssetGraphSubset holds
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements  # as dagster-k8s
from dagster._core.definitions.job_base import InMemoryJob  # a CLI run executes in process, as execute_in_process does
from dagster._core.definitions.op_definition import OpDefinition  # the op whose compute function step metrics swap
from dagster._core.definitions.reconstruct import ReconstructableRepository  # a CLI run's job_code_origin
from dagster._core.event_api import PartitionKeyFilter  # the upstream gate's batched per-partition check read
from dagster._core.events import DagsterEvent, EngineEventData  # engine events a step handler reports
from dagster._core.execution.api import execute_run_iterator  # runs a created run in process (the run worker's call)
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill  # no public way to record a backfill
from dagster._core.execution.retries import RetryMode, get_retries_config  # executor retries config, as dagster-k8s
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,  # what a step handler's check_step_health returns
    StepDelegatingExecutor,  # runs each step through a StepHandler
    StepHandler,  # base class of the Kubernetes / SageMaker / local step handlers
    StepHandlerContext,  # what launch_step / terminate_step receive
)
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin  # a CLI run's code location, for the UI
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType  # schedule/sensor states, one read
from dagster._core.storage.db_io_manager import DbIOManager, TableSlice  # not exported; the warehouses swap its client
from dagster._core.workspace.load_target import (  # origins as `dagster dev` builds them
    ModuleTarget,
    WorkspaceFileTarget,
)
from dagster._grpc.types import ExecuteStepArgs  # the arguments a step worker is launched with
from dagster._record import copy as copy_record  # ExecuteStepArgs (a Dagster record) with one field changed
from dagster._utils.schedules import (  # no public cron iterator; the freshness daemon uses these, so SLO
    get_latest_completed_cron_tick,  # deadlines, schedule times and partition dates agree with the UI
    get_next_cron_tick,
    is_valid_cron_string,
)


# Private attributes of Dagster objects, each behind one function (tests/test_dagster_internal.py
# enforces that no other module reads a ``._name`` of an object that is not its own).
def replace_compute_fn(op, compute_fn) -> None:
    """Set a copied op's compute function: ``OpDefinition`` has no public setter, and rebuilding the op
    re-resolves its types (0.64 s per load at 1,000 tables, BENCHMARKS.md)."""
    op._compute_fn = compute_fn  # noqa: SLF001


def plan_steps(context) -> dict:
    """A StepHandlerContext's execution-plan steps by key: the steps behind ``step_tags`` (not exposed)."""
    return context._steps_by_key  # noqa: SLF001


def with_plan_steps(context, steps: list, execute_step_args):
    """A StepHandlerContext for other steps or step args: its constructor needs the plan context it keeps private."""
    return StepHandlerContext(context.instance, context._plan_context, steps, execute_step_args, context.dagster_run)  # noqa: SLF001


def processed_config(fields: dict, value, what: str) -> dict:
    """Config checked and defaulted against a schema built after load (the executor's Kubernetes section,
    whose schema comes from dagster-k8s, imported only when a run uses it): Dagster exports no validator."""
    import dagster as dg
    from dagster._config import process_config

    result = process_config(dg.Shape(fields), value)
    if not result.success:
        raise dg.DagsterInvalidConfigError(f"{what} is not valid:", result.errors, value)
    return result.value


def relaunchable_k8s_step_handler() -> type:
    """dagster-k8s's K8sStepHandler with a Job name suffix per relaunch (it names Jobs in the private
    ``_get_k8s_step_job_name``, which launch, health check and terminate call) and public names for
    the private members a health check needs: the Job's name, its namespace and the API client."""
    global _RELAUNCHABLE_K8S_STEP_HANDLER
    if _RELAUNCHABLE_K8S_STEP_HANDLER is None:
        from dagster_k8s.executor import K8sStepHandler

        class RelaunchableK8sStepHandler(K8sStepHandler):
            def job_name_suffix(self, context) -> str:
                return ""

            def _get_k8s_step_job_name(self, context) -> str:
                return super()._get_k8s_step_job_name(context) + self.job_name_suffix(context)

            def step_job_name(self, context) -> str:
                return self._get_k8s_step_job_name(context)

            def step_namespace(self, context) -> str:
                return self._get_container_context(context).namespace

            @property
            def api_client(self):
                return self._api_client

        _RELAUNCHABLE_K8S_STEP_HANDLER = RelaunchableK8sStepHandler
    return _RELAUNCHABLE_K8S_STEP_HANDLER


_RELAUNCHABLE_K8S_STEP_HANDLER = None


# Imported on first use, not at load: dagster._cli and the SQL event-log storages pull in the CLI,
# workspace, SQLAlchemy and Alembic (~1 s) that loading a code location does not need.
def execute_step_command():
    """The body of `dagster api execute_step` (a click command), run in a forked step process."""
    from dagster._cli.api import execute_step_command as command

    return command


def is_run_sharded_sqlite(event_log_storage) -> bool:
    """Run-sharded SQLite event log (the default local instance): storage ids are not global."""
    from dagster._core.storage.event_log import SqliteEventLogStorage

    return type(event_log_storage) is SqliteEventLogStorage


def event_log_tables():
    """The SQL event log's tables (events, asset event tags, check executions): OSS has no event-log
    retention API (dagster#33785), so the history purge deletes rows itself (ml_platform.history_purge)."""
    from dagster._core.storage.event_log.schema import (
        AssetCheckExecutionsTable,
        AssetEventTagsTable,
        SqlEventLogStorageTable,
    )

    return SqlEventLogStorageTable, AssetEventTagsTable, AssetCheckExecutionsTable


__all__ = [
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetGraphSubset",
    "AssetKeyPartitionKey",
    "BulkActionStatus",
    "CheckStepHealthResult",
    "DagsterEvent",
    "DbIOManager",
    "DecoratedOpFunction",
    "EngineEventData",
    "ExecuteStepArgs",
    "InMemoryJob",
    "InstigatorStatus",
    "InstigatorType",
    "ModuleTarget",
    "OpDefinition",
    "PartitionBackfill",
    "PartitionKeyFilter",
    "ReconstructableRepository",
    "RemoteJobOrigin",
    "RemoteRepositoryOrigin",
    "RetryMode",
    "StepDelegatingExecutor",
    "StepHandler",
    "StepHandlerContext",
    "TableSlice",
    "WorkspaceFileTarget",
    "copy_record",
    "event_log_tables",
    "execute_run_iterator",
    "execute_step_command",
    "get_latest_completed_cron_tick",
    "get_next_cron_tick",
    "get_retries_config",
    "is_run_sharded_sqlite",
    "is_valid_cron_string",
    "multiple_process_executor_requirements",
    "plan_steps",
    "processed_config",
    "relaunchable_k8s_step_handler",
    "replace_compute_fn",
    "with_plan_steps",
]
