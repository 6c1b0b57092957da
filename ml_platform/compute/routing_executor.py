"""One executor per code location that sends each step to its backend (Kubernetes, SageMaker, local, …).

Dagster allows one executor per run; this one delegates each step by its own op tags
(``ml_platform/backend``, set from the asset's compute profile), so a single run mixes
backends, and a run launched from the UI, a schedule, a sensor or a backfill routes the
same way: step tags come from the asset definition, not from the run.

``real_backends`` lists the backends that exist in this environment; a step whose backend is
not real runs in a local process. Locally (``ML_PLATFORM_ENV=local``) none is real.

The executor knows backends only through their interface (``compute.backends``): its config has one
section per backend, each backend builds its own step handler, and sizing, spot capacity and
infrastructure failures go through the backend's methods. The Kubernetes and SageMaker clients
(dagster-k8s, boto3) are imported when a run first uses that backend, not when the code location
loads: every run worker and code server loads it.
"""

import time
from collections.abc import Callable, Iterator, Mapping

import dagster as dg

from ml_platform.compute._dagster_step_api import (
    CheckStepHealthResult,
    DagsterEvent,
    EngineEventData,
    RetryMode,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
    get_retries_config,
    multiple_process_executor_requirements,
    retagged,
    step_asset_keys,
    step_attempt,
    step_key_of,
)
from ml_platform.compute.auto_memory import MemoryDecision
from ml_platform.compute.backends import BACKENDS, Backend, backend_of
from ml_platform.compute.backends.base import SPOT
from ml_platform.compute.capacity import MAX_SPOT_PREEMPTIONS, DeadlineGuard, capacity_for
from ml_platform.compute.infrastructure_retry import (
    ATTEMPT_TAG,
    OOM,
    PREEMPTED,
    InfrastructureFailure,
    InfrastructureRetries,
    RetryPolicy,
)
from ml_platform.compute.profiles import BACKEND_TAG, LOCAL, PROFILE_TAG, PROFILES, quantity_bytes
from ml_platform.compute.run_limits import partitions_in_run, tag_run_with_its_limit
from ml_platform.compute.step_metrics import attempt_record
from ml_platform.compute.step_sizing import StepSizer, describe, sized_tags
from ml_platform.compute.step_usage import (
    DURATION_KEY,
    LAUNCHED_AT_TAG,
    MEMORY_SOURCE_KEY,
    MIB,
    OOM_KILLED,
    PEAK_MEMORY_KEY,
    STARTUP_KEY,
)
from ml_platform.compute.step_usage import PREEMPTED as PREEMPTED_OUTCOME
from ml_platform.declaration import read_declaration

PRODUCTION = "production"
PARTITION_TAG = "dagster/partition"



def routing_config_schema(backends: Mapping[str, Backend] = BACKENDS) -> dict[str, dg.Field]:
    """The executor's config: the routing settings, and one section per backend (its ``config_field``)."""
    return {
        "real_backends": dg.Field([str], default_value=[], description=f"Backends that exist here, of {tuple(backends)}."),
        **{name: backend.config_field() for name, backend in backends.items()},
        "retries": get_retries_config(),
        "max_concurrent": dg.Field(dg.Noneable(int), is_required=False, default_value=None),
        "check_step_health_interval_seconds": dg.Field(int, default_value=20),
        "sleep_seconds": dg.Field(float, default_value=0.5),
    }


class RoutingStepHandler(StepHandler):
    """Delegates each step to the handler of its backend; handlers are built on first use.

    One instance per run. It also sizes automatic-memory steps (``step_sizing``), puts interruptible
    steps on spot or on-demand capacity (``capacity``), and relaunches a step whose container the
    infrastructure killed (``infrastructure_retry``): ``retry_policies`` maps a failure reason to its
    policy; out-of-memory escalation and preemption are built in.
    """

    def __init__(self, factories: Mapping[str, Callable[[StepHandlerContext], StepHandler]], real_backends: frozenset[str],
                 retry_policies: Mapping[str, RetryPolicy] | None = None, retries: InfrastructureRetries | None = None,
                 backends: Mapping[str, Backend] = BACKENDS):
        super().__init__()
        unknown = set(real_backends) - set(backends)
        if unknown:
            raise dg.DagsterInvalidConfigError(f"routing executor: unknown real_backends {sorted(unknown)} (known: {tuple(backends)})", [], None)
        self._backends = backends
        self._factories = factories
        self._real_backends = real_backends | {LOCAL}
        self._handlers: dict[str, StepHandler] = {}
        self._sizer = StepSizer()
        self._deadlines = DeadlineGuard()
        self._capacities: dict[tuple[str, int, int], tuple[str, str]] = {}  # one decision per container
        self._launched_at: dict[tuple[str, int, int], float] = {}  # when each container was asked for
        self._retries = retries or InfrastructureRetries()
        self._retry_policies = {OOM: self._sizer.escalate, PREEMPTED: self._after_preemption, **(retry_policies or {})}

    @property
    def name(self) -> str:
        return "RoutingStepHandler"

    def backend_for(self, context: StepHandlerContext) -> str:
        """The step's backend if it is real here, else local. Untagged steps (e.g. checks) run locally."""
        backend = context.step_tags[step_key_of(context)].get(BACKEND_TAG, LOCAL)
        return backend if backend in self._real_backends else LOCAL

    def _backend(self, context: StepHandlerContext) -> Backend:
        return self._backends[self.backend_for(context)]

    def _handler(self, context: StepHandlerContext) -> StepHandler:
        backend = self.backend_for(context)
        if backend not in self._handlers:
            self._handlers[backend] = self._factories[backend](context)
        return self._handlers[backend]

    def _decision(self, context: StepHandlerContext) -> MemoryDecision | None:
        """The size of an automatic-memory step on a backend with sizes (a local step takes what it needs)."""
        if self._backend(context).ladder is None:
            return None
        step_key = step_key_of(context)
        asset_key = next(iter(step_asset_keys(context, step_key)), None)
        return self._sizer.decision(step_key, context.step_tags[step_key], asset_key, context.instance)

    def _capacity(self, context: StepHandlerContext) -> tuple[str, str] | None:
        """(capacity, why) of an interruptible step on its real backend (Kubernetes); None for any other step."""
        step_key = step_key_of(context)
        profile = PROFILES.get(context.step_tags[step_key].get(PROFILE_TAG, ""))
        if profile is None or self.backend_for(context) != profile.backend or not self._backend(context).interruptible(profile):
            return None
        attempt, preemptions = step_attempt(context, step_key), self._retries.count(step_key, PREEMPTED)
        if (step_key, attempt, preemptions) not in self._capacities:  # launch, health checks, terminate agree
            step_context = context.get_step_context(step_key)
            policy = step_context.op_retry_policy
            asset_key = next(iter(step_asset_keys(context, step_key)), None)
            near = asset_key and self._deadlines.near(
                context.instance, asset_key.to_user_string(), _declaration(step_context, asset_key),
                context.dagster_run.tags.get(PARTITION_TAG),
            )
            self._capacities[step_key, attempt, preemptions] = capacity_for(
                attempt, policy.max_retries if policy else 0, preemptions, near or None
            )
        return self._capacities[step_key, attempt, preemptions]

    def _after_preemption(self, step_key: str, tags, failure: InfrastructureFailure) -> str:
        """The preemption policy: relaunch the same size; on-demand once the step was preempted enough."""
        profile = PROFILES.get(tags.get(PROFILE_TAG, ""))
        if profile is None or not backend_of(profile).interruptible(profile):
            return "the same size"
        on_demand = self._retries.count(step_key, PREEMPTED) + 1 >= MAX_SPOT_PREEMPTIONS
        return "on-demand capacity" if on_demand else "spot capacity again"

    def _container(self, context: StepHandlerContext) -> tuple[str, int, int]:
        step_key = step_key_of(context)
        return step_key, step_attempt(context, step_key), self._retries.attempt(step_key)

    def _as_launched(self, context: StepHandlerContext, launched_at: float | None = None) -> StepHandlerContext:
        """The context the backend sees: the step's decided size, capacity and relaunch number, if any,
        and, at launch, the launch time its container learns (its start-up is measured from it)."""
        step_key = step_key_of(context)
        tags = context.step_tags[step_key]
        decision = self._decision(context)
        capacity = self._capacity(context)
        attempt = self._retries.attempt(step_key)
        on_demand = capacity is not None and capacity[0] != SPOT  # the profile's own tags say spot
        if decision is None and not attempt and not on_demand and launched_at is None:
            return context
        rewritten = decision is not None or on_demand
        launched = {**(sized_tags(tags, decision, capacity and capacity[0]) if rewritten else tags),
                    **({ATTEMPT_TAG: str(attempt)} if attempt else {})}
        if launched_at is not None:
            launched = self._backend(context).with_launch_time({**launched, LAUNCHED_AT_TAG: f"{launched_at:.3f}"},
                                                               partitions_in_run(context.dagster_run.tags))
        # A relaunched step has run before in this attempt: Dagster's duplicate-launch check would refuse it.
        return retagged(context, launched, verify_step=not attempt)

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        launched_at = time.time()
        self._launched_at[self._container(step_handler_context)] = launched_at
        launched = self._as_launched(step_handler_context, launched_at)
        step_key = step_key_of(step_handler_context)
        decision = self._decision(step_handler_context)
        if decision is not None:
            yield DagsterEvent.engine_event(
                step_handler_context.get_step_context(step_key),
                describe(step_key, step_handler_context.step_tags[step_key], decision),
                EngineEventData(metadata=decision.metadata()),
            )
        capacity = self._capacity(step_handler_context)
        if capacity is not None:
            yield DagsterEvent.engine_event(
                step_handler_context.get_step_context(step_key),
                f"Capacity for step {step_key}: {capacity[0].replace('_', '-')} ({capacity[1]})",
                EngineEventData(metadata={"capacity": capacity[0], "why": capacity[1]}),
            )
        yield from self._handler(step_handler_context).launch_step(launched) or []

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        launched = self._as_launched(step_handler_context)
        handler, backend = self._handler(step_handler_context), self._backend(step_handler_context)
        result = handler.check_step_health(launched)
        if result.is_healthy or not backend.failure_reasons:
            return result
        step_key = step_key_of(step_handler_context)
        failure = backend.infrastructure_failure(handler, launched)
        if failure is not None:
            self._record_killed_attempt(step_handler_context, handler, launched, failure)
        policy = failure and self._retry_policies.get(failure.reason)
        change = policy(step_key, launched.step_tags[step_key], failure) if policy and self._retries.allows(step_key, failure.reason) else None
        if change is None:
            return self._standing_failure(step_handler_context, result, failure)
        attempt = self._retries.record(step_key, failure.reason)
        DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            f"Infrastructure retry ({failure.reason}) of step {step_key}: {failure.detail}. Relaunching with {change};"
            " the asset's retry budget is unchanged.",
            EngineEventData(metadata={"reason": failure.reason, "infrastructure attempt": attempt, "change": change}),
        )
        list(self.launch_step(step_handler_context))
        return CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        launched = self._as_launched(step_handler_context)
        yield from self._handler(step_handler_context).terminate_step(launched) or []

    def _standing_failure(self, context: StepHandlerContext, result: CheckStepHealthResult,
                          failure: InfrastructureFailure | None) -> CheckStepHealthResult:
        """The step's final failure; an out-of-memory kill names the size, the maximum and what to change."""
        if failure is None or failure.reason != OOM or PROFILE_TAG not in context.step_tags[step_key_of(context)]:
            return result
        step_key = step_key_of(context)
        asset_key = next(iter(step_asset_keys(context, step_key)), None)
        asset = asset_key.to_user_string() if asset_key else step_key
        return CheckStepHealthResult.unhealthy(self._sizer.out_of_memory(step_key, context.step_tags[step_key], asset, failure))

    def _record_killed_attempt(self, context: StepHandlerContext, handler: StepHandler, launched: StepHandlerContext,
                               failure: InfrastructureFailure) -> None:
        """The attempt record of a container the infrastructure killed (it could not write its own):
        wall time and start-up from the backend's timestamps, the limit it was killed at, its cost."""
        step_key = step_key_of(context)
        tags = context.step_tags[step_key]
        asset_key = next(iter(step_asset_keys(context, step_key)), None)
        profile = PROFILES.get(tags.get(PROFILE_TAG, ""))
        if asset_key is None:
            return
        launched_at = self._launched_at.get(self._container(context))
        started, ended = self._backend(context).attempt_times(handler, launched)
        ended = ended or time.time()
        started = started or launched_at or ended
        memory = self._sizer.memory(step_key, tags) if profile else None
        usage: dict = {DURATION_KEY: round(max(ended - started, 0.0), 3),
                       STARTUP_KEY: round(max(started - launched_at, 0.0), 3) if launched_at else 0.0}
        if failure.reason == OOM and memory:
            usage.update({PEAK_MEMORY_KEY: round(quantity_bytes(memory) / MIB, 1), MEMORY_SOURCE_KEY: "the memory limit it was killed at"})
        outcome = OOM_KILLED if failure.reason == OOM else PREEMPTED_OUTCOME if failure.reason == PREEMPTED else failure.reason
        decision = self._decision(context)
        capacity = self._capacity(context)
        graph = context.get_step_context(step_key).job.get_definition().asset_layer.asset_graph
        partitioned = graph.has(asset_key) and graph.get(asset_key).partitions_def is not None
        observation = attempt_record(
            asset_key, context.dagster_run.tags.get(PARTITION_TAG) if partitioned else None, outcome, usage, profile,
            decision.metadata() if decision else {}, estimate=False, capacity=capacity[0] if capacity else None,
        )
        DagsterEvent.asset_observation(context.get_step_context(step_key), observation)


def _declaration(step_context, asset_key: dg.AssetKey):
    """The asset's declaration (its SLO), from the job's asset graph, or None for an undeclared asset."""
    graph = step_context.job.get_definition().asset_layer.asset_graph
    return read_declaration(graph.get(asset_key).metadata) if graph.has(asset_key) else None


class _RunLimitedExecutor(StepDelegatingExecutor):
    """Tags the run with its time limit before executing it, however it was launched (``run_limits``)."""

    def execute(self, plan_context, execution_plan):
        tag_run_with_its_limit(plan_context.instance, plan_context.dagster_run, execution_plan, plan_context.job.get_definition())
        yield from super().execute(plan_context, execution_plan)


def routing_executor_def(backends: Mapping[str, Backend] = BACKENDS) -> dg.ExecutorDefinition:
    """The routing executor over ``backends`` (default: the registry), its config composed from theirs."""

    @dg.executor(name="ml_platform_routing", config_schema=routing_config_schema(backends),
                 requirements=multiple_process_executor_requirements())
    def routing_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        """Each step on its backend (Kubernetes, SageMaker, a local process, …), by its ``ml_platform/backend`` tag."""
        config = init_context.executor_config
        real = frozenset(config["real_backends"])
        factories = {name: backend.prepare(config.get(name) or {})  # a real backend checks its settings now
                     for name, backend in backends.items() if name in real or name == LOCAL}
        return _RunLimitedExecutor(
            RoutingStepHandler(factories, real, backends=backends),
            retries=RetryMode.from_config(config["retries"]),
            max_concurrent=config.get("max_concurrent"),
            check_step_health_interval_seconds=config["check_step_health_interval_seconds"],
            sleep_seconds=config["sleep_seconds"],
            # As dagster-k8s's executor: a step worker started twice for one attempt (a retried
            # CreateProcessingJob, a rescheduled pod) refuses to run the step again.
            should_verify_step=True,
        )

    return routing_executor


routing_executor = routing_executor_def()


def executor_for_env(env: str) -> dg.ExecutorDefinition:
    """The code location's default executor: in production the remote backends (Kubernetes and
    SageMaker) are real. A backend may take defaults from the deployment when definitions load
    (``Backend.deployment_config``; e.g. ``ML_PLATFORM_LOCAL_START_METHOD`` sets how local steps
    start for every run, UI-launched ones included: ``fork`` (default) or ``spawn``).

    A run's config may still set the rest of the executor's config (``execution.config``), e.g.
    ``sagemaker.env_vars``; which backends are real is the deployment's choice alone."""
    real = [name for name, backend in BACKENDS.items() if backend.remote] if env == PRODUCTION else []
    defaults = {name: config for name, backend in BACKENDS.items() if (config := backend.deployment_config())}
    run_schema = {key: field for key, field in routing_config_schema().items() if key != "real_backends"}

    def with_deployment(run_config: dict) -> dict:
        return {**run_config, "real_backends": real, **{name: run_config.get(name) or config for name, config in defaults.items()}}

    return routing_executor.configured(with_deployment, name=f"ml_platform_routing_{env}", config_schema=run_schema)
