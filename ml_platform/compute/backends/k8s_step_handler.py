"""dagster-k8s's step handler, plus what infrastructure retries need: why a step's pod died, and
a distinct Job name for each relaunch of the same attempt; and a pod that cannot start fails its
step within a grace period (``k8s_pod_start``). Imported when a run first uses Kubernetes."""

from ml_platform._dagster_internal import relaunchable_k8s_step_handler
from ml_platform.compute._dagster_step_api import CheckStepHealthResult, StepHandlerContext, step_key_of
from ml_platform.compute.backends.k8s_pod_start import PodStartWatch, job_events
from ml_platform.compute.infrastructure_retry import OOM, PREEMPTED, InfrastructureFailure, attempt_suffix

OOM_KILLED = "OOMKilled"  # the kubelet's reason on a container killed at its memory limit
# A preemption is read from the pod, never from the container's exit code (an application can exit
# with any code): the pod condition DisruptionTarget (Kubernetes >= 1.26: PreemptionByScheduler,
# TerminationByKubelet on node shutdown or spot reclaim, EvictionByEvictionAPI on a drain,
# DeletionByTaintManager), or the pod's status reason on clusters without it.
DISRUPTION_CONDITION = "DisruptionTarget"
PREEMPTION_REASONS = {"Evicted", "Preempting", "NodeShutdown", "Terminated", "NodeLost", "Shutdown"}


class DiagnosingK8sStepHandler(relaunchable_k8s_step_handler()):
    def __init__(self, *args, start_watch: PodStartWatch | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._start_watch = start_watch or PodStartWatch()

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        result = super().check_step_health(step_handler_context)
        if not result.is_healthy:
            return result
        job_name, namespace = self.step_job_name(step_handler_context), self.step_namespace(step_handler_context)
        pods = [p for p in self.api_client.get_pods_in_job(job_name=job_name, namespace=namespace)
                if (p.metadata.labels or {}).get("job-name") == job_name]
        failure = self._start_watch.failure(pods, namespace, job_name, lambda: job_events(self.api_client.core_api, job_name, namespace))
        if failure is None:
            return result
        self.api_client.delete_job(job_name=job_name, namespace=namespace)  # its pod holds a node's resources
        return CheckStepHealthResult.unhealthy(f"Kubernetes job {job_name} for step {step_key_of(step_handler_context)}: {failure}")

    def job_name_suffix(self, step_handler_context: StepHandlerContext) -> str:
        # dagster-k8s names a step's Job after run, step and Dagster attempt; a relaunch's Job gets its own name.
        return attempt_suffix(step_handler_context.step_tags[step_key_of(step_handler_context)])

    def infrastructure_failure(self, step_handler_context: StepHandlerContext) -> InfrastructureFailure | None:
        """OOM if a container of the step's pod was OOMKilled (now or in its last state); PREEMPTED
        if the pod was evicted or its node taken away."""
        job_name, namespace = self.step_job_name(step_handler_context), self.step_namespace(step_handler_context)
        for pod in self.api_client.get_pods_in_job(job_name=job_name, namespace=namespace):
            if (pod.metadata.labels or {}).get("job-name") != job_name:
                continue  # a label selector the API server ignored
            for status in (pod.status and pod.status.container_statuses) or []:
                for state in (status.state, status.last_state):
                    terminated = state and state.terminated
                    if terminated and terminated.reason == OOM_KILLED:
                        detail = f"container '{status.name}' of pod {pod.metadata.name} {OOM_KILLED} (exit code {terminated.exit_code})"
                        return InfrastructureFailure(OOM, detail)
            preempted = _preemption(pod)
            if preempted:
                return InfrastructureFailure(PREEMPTED, f"pod {pod.metadata.name} {preempted}")
        return None

    def attempt_times(self, step_handler_context: StepHandlerContext) -> tuple[float | None, float | None]:
        """(start, end) of the step container, unix time, from the kubelet's terminated state."""
        job_name, namespace = self.step_job_name(step_handler_context), self.step_namespace(step_handler_context)
        for pod in self.api_client.get_pods_in_job(job_name=job_name, namespace=namespace):
            if (pod.metadata.labels or {}).get("job-name") != job_name:
                continue
            for status in (pod.status and pod.status.container_statuses) or []:
                terminated = status.state and status.state.terminated
                if terminated:
                    return _timestamp(terminated.started_at), _timestamp(terminated.finished_at)
        return None, None


def _timestamp(value) -> float | None:
    return value.timestamp() if value is not None else None


def _preemption(pod) -> str | None:
    status = pod.status
    if status is None:
        return None
    for condition in status.conditions or []:
        if condition.type == DISRUPTION_CONDITION and condition.status == "True":
            return f"{condition.reason}: {condition.message or ''}".rstrip(": ")
    if status.reason in PREEMPTION_REASONS:
        return f"{status.reason}: {status.message or ''}".rstrip(": ")
    return None
