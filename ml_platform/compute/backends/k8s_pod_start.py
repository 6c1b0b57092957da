"""A step pod that cannot start fails its step within a grace period, naming the reason.

dagster-k8s's step health check reads only the Job's ``status.failed``. A pod whose container
never starts is not failed: a missing Secret (``CreateContainerConfigError``), an image that
cannot be pulled (``ErrImagePull`` / ``ImagePullBackOff``) or a pod no node can take
(``PodScheduled=False``, reason ``Unschedulable``) would wait for the Job's
``activeDeadlineSeconds`` (hours). The step's health check also reads its pods through this
module: a start problem that lasts past its grace period fails the step with the pod's reason,
its message and what to check. ``Unschedulable`` gets a longer grace, since a cluster autoscaler
may be adding a node. A Job that gets no pod at all (a ResourceQuota or LimitRange refuses it, an
admission webhook rejects it) fails after the start grace too, naming the Job controller's last
event for it. The grace is counted from the first health check that saw the problem.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

START_TIMEOUT_SECONDS = 300  # a container that has not started 5 min after the problem was seen
UNSCHEDULABLE_TIMEOUT_SECONDS = 1800  # time for the autoscaler to add a node
UNSCHEDULABLE = "Unschedulable"
# Waiting reasons of a container that will not start without someone fixing something.
START_FAILURES = {
    "CreateContainerConfigError": "that every Secret and ConfigMap the pod reads (envFrom, secretKeyRef, configMapKeyRef)"
    " exists in namespace {namespace} with the keys named",
    "CreateContainerError": "the container's command and volume mounts (kubectl describe pod {pod} -n {namespace})",
    "ErrImagePull": "the image name and tag, that they were pushed, and the node's pull access (imagePullSecrets)",
    "ImagePullBackOff": "the image name and tag, that they were pushed, and the node's pull access (imagePullSecrets)",
    "InvalidImageName": "the image reference (job_image / the code location's image)",
}
NO_POD = "NoPod"
NO_POD_CHECK = ("the namespace's ResourceQuota and LimitRange, and admission webhooks: the Job's events say why"
                " (kubectl describe job {job} -n {namespace})")
UNSCHEDULABLE_CHECK = ("the node pool for the pod's nodeSelector and tolerations has room for its requests, and the"
                       " cluster autoscaler's limits (kubectl describe pod {pod} -n {namespace})")


def job_events(core_api, job_name: str, namespace: str) -> list[str]:
    """The Job's event messages in the API's (creation) order: "FailedCreate: pods ... is forbidden: exceeded quota ..."."""
    from kubernetes.client.rest import ApiException

    try:
        events = core_api.list_namespaced_event(namespace, field_selector=f"involvedObject.name={job_name}").items
    except ApiException:  # a role without "events": the failure still names the Job and what to check
        return []
    # Filtered again: an API server (or a fake) that ignores the field selector returns them all.
    return [f"{e.reason}: {e.message}" for e in events if e.involved_object and e.involved_object.name == job_name]


@dataclass(frozen=True)
class StartProblem:
    pod: str
    reason: str
    message: str


def start_problem(pod) -> StartProblem | None:
    """Why this pod (a kubernetes.client V1Pod) is not starting, if it is one of the known reasons."""
    status = pod.status
    if status is None:
        return None
    for condition in status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == UNSCHEDULABLE:
            return StartProblem(pod.metadata.name, UNSCHEDULABLE, condition.message or "")
    for container in status.container_statuses or []:
        waiting = container.state and container.state.waiting
        if waiting and waiting.reason in START_FAILURES:
            return StartProblem(pod.metadata.name, waiting.reason, waiting.message or "")
    return None


@dataclass
class PodStartWatch:
    """Remembers since when each pod has had its start problem, across a run's health checks."""

    start_timeout: float = START_TIMEOUT_SECONDS
    unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT_SECONDS
    clock: Callable[[], float] = time.monotonic
    _since: dict[tuple[str, str], float] = field(default_factory=dict)

    def failure(
        self, pods: Iterable, namespace: str, job: str = "", events: Callable[[], list[str]] | None = None, seen_since: float | None = None
    ) -> str | None:
        """The step's failure message if one of its pods has not started past its grace period, or
        its Job ``job`` has had no pod for that long (``events``: the Job's event messages, newest last).
        ``seen_since``: count the grace from then (a run's launch) instead of from the first call that saw it."""
        now = self.clock()
        first_seen = now if seen_since is None else seen_since
        pods = list(pods)
        if not pods and job:
            since = self._since.setdefault((job, NO_POD), first_seen)
            if now - since >= self.start_timeout:
                said = (events() if events else [])[-1:]
                why = f": {said[0]}" if said else ""
                return (f"no pod was created for it{why} (seen for {now - since:.0f} s; grace {self.start_timeout:.0f} s)."
                        f" Check {NO_POD_CHECK.format(job=job, namespace=namespace)}.")
            return None
        for pod in pods:
            problem = start_problem(pod)
            if problem is None:
                continue
            since = self._since.setdefault((problem.pod, problem.reason), first_seen)
            grace = self.unschedulable_timeout if problem.reason == UNSCHEDULABLE else self.start_timeout
            if now - since >= grace:
                check = (UNSCHEDULABLE_CHECK if problem.reason == UNSCHEDULABLE else START_FAILURES[problem.reason])
                return (
                    f"pod {problem.pod} cannot start: {problem.reason}: {problem.message}"
                    f" (seen for {now - since:.0f} s; grace {grace:.0f} s). Check {check.format(pod=problem.pod, namespace=namespace)}."
                )
        return None
