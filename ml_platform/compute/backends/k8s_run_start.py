"""A run whose worker pod cannot start fails within a grace period, naming the reason.

Dagster's run monitoring reads only the run-worker Job's status (dagster-k8s's
``check_run_worker_health``). A worker pod that never starts is not failed: an image that cannot
be pulled, a missing Secret, no node for it, or a quota that refuses the pod keeps the run
STARTING until ``run_monitoring.start_timeout_seconds`` (900 s), which then fails it as timed out
(with a dump of the pod's state). A 5-minute grace and the deleted Job are what this adds. The monitoring runs in the daemon, on Dagster's image without this package,
so this sensor (production only, every 30 s, in the code server) does the rest: for every run
STARTING longer than the grace, it reads the pods of its run-worker Job with the step pods'
diagnosis (``k8s_pod_start``), fails the run with the pod's reason, its message and what to
check, and deletes the Job, whose pod holds a node's resources. Run retries re-launch it once
(an image or a Secret may be back); the run-failure alert pages once, for the run that will not be
retried, with that message. The grace is counted from the run's launch.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import dagster as dg

from ml_platform.compute.backends.k8s_pod_start import START_TIMEOUT_SECONDS, PodStartWatch, job_events

SENSOR_NAME = "run_worker_start_watch"
# Below the run monitoring's 900 s start timeout, which would fail the run first, with a pod dump for reason.
UNSCHEDULABLE_TIMEOUT_SECONDS = 600
MAX_RUNS_PER_TICK = 50  # each costs a few Kubernetes and storage reads


@dataclass(frozen=True)
class Unstartable:
    run_id: str
    job: str
    namespace: str
    message: str


def unstartable_runs(
    instance: dg.DagsterInstance, api_client, now: float, start_timeout: float = START_TIMEOUT_SECONDS,
    unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT_SECONDS,
) -> list[Unstartable]:
    """The STARTING runs whose worker pod has not started past its grace, with why."""
    from dagster_k8s.job import get_job_name_from_run_id

    launcher = instance.run_launcher
    watch = PodStartWatch(start_timeout, unschedulable_timeout, clock=lambda: now)
    failures = []
    # Oldest first, a bounded number per tick: a burst of launches cannot push a tick past Dagster's 60 s.
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING]), limit=MAX_RUNS_PER_TICK, ascending=True)
    for record in records:
        run = record.dagster_run
        # As Dagster's own start monitor counts: the launch event's time (the record's naive
        # update_timestamp shifts with a PostgreSQL session that is not in UTC).
        launched = instance.get_run_stats(run.run_id).launch_time or record.create_timestamp.timestamp()
        if now - launched < min(start_timeout, unschedulable_timeout):
            continue
        job = get_job_name_from_run_id(run.run_id)
        namespace = launcher.get_container_context_for_run(run).namespace
        pods = [p for p in api_client.get_pods_in_job(job_name=job, namespace=namespace) if (p.metadata.labels or {}).get("job-name") == job]
        failure = watch.failure(pods, namespace, job, partial(job_events, api_client.core_api, job, namespace), seen_since=launched)
        if failure:
            failures.append(Unstartable(run.run_id, job, namespace, f"The run worker (Kubernetes job {job}) never started: {failure}"))
    return failures


def build_run_worker_start_watch(
    start_timeout: float = START_TIMEOUT_SECONDS, unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Fails a run whose Kubernetes run-worker pod cannot start (image, Secret, node, quota), naming "
        "the reason, within minutes instead of the run monitoring's 15-minute timeout.",
    )
    def run_worker_start_watch(context: dg.SensorEvaluationContext):
        from dagster_k8s import K8sRunLauncher
        from dagster_k8s.client import DagsterKubernetesClient

        instance = context.instance
        if not isinstance(instance.run_launcher, K8sRunLauncher):
            return dg.SkipReason("runs on this instance are not launched on Kubernetes")
        api_client = DagsterKubernetesClient.production_client()  # the launcher has loaded the cluster's config
        failed = 0
        for unstartable in unstartable_runs(instance, api_client, clock(), start_timeout, unschedulable_timeout):
            run = instance.get_run_by_id(unstartable.run_id)
            if run is None or run.status != dg.DagsterRunStatus.STARTING:
                continue  # it started, or was canceled, since it was read
            instance.report_run_failed(run, unstartable.message)
            api_client.delete_job(job_name=unstartable.job, namespace=unstartable.namespace)
            context.log.warning(f"run {unstartable.run_id}: {unstartable.message}")
            failed += 1
        return dg.SkipReason(f"failed {failed} run(s) whose worker cannot start" if failed else "every starting run's worker is starting")

    return run_worker_start_watch
