"""The SageMaker backend's step handler: a step is a Processing Job, modeled on dagster-aws's ``ecs_executor``.
Imported when a run first uses SageMaker (boto3 is not imported at load).

The job runs ``dagster api execute_step`` with the image's own ``python``; the step reports its
events to the Dagster instance itself, like a Kubernetes step pod. The job is self-sufficient:
the step loads its instance from the image's ``DAGSTER_HOME/dagster.yaml`` (not the launcher's
instance ref), which reads its connection settings from env vars. Plaintext settings are the
run worker's values of ``step_settings.STEP_SETTINGS`` (given to the run worker by the Helm
values) plus ``env_vars``; secrets come from Secrets Manager by ARN at container start
(``step_entrypoint``); credentials from the job's IAM role. Sizing (instance type, count, volume,
max runtime) comes from the step's compute profile; image, role, region, network, env and secrets
from ``SageMakerSettings`` (``ML_PLATFORM_SAGEMAKER_*`` env vars of the run worker, or the
executor's ``sagemaker`` config; ``backends.sagemaker``).
"""

import hashlib
import re
from collections.abc import Iterator

import boto3
import dagster as dg
from botocore.config import Config

from ml_platform.compute._dagster_step_api import (
    CheckStepHealthResult,
    DagsterEvent,
    EngineEventData,
    StepHandler,
    StepHandlerContext,
    step_args_without_instance_ref,
    step_attempt,
    step_key_of,
)
from ml_platform.compute.backends.sagemaker import INSTANCE_TYPE_TAG, SageMakerOptions, SageMakerSettings
from ml_platform.compute.infrastructure_retry import OOM, InfrastructureFailure, attempt_suffix
from ml_platform.compute.profiles import PROFILE_TAG, get_profile
from ml_platform.compute.run_limits import partitions_in_run
from ml_platform.compute.step_entrypoint import STEP_ARGS_ENV, chunk_env
from ml_platform.compute.step_usage import (
    CGROUP_DIR,
    CGROUP_ENV,
    DECISION_ENV,
    DECISION_TAG,
    LAUNCHED_AT_ENV,
    LAUNCHED_AT_TAG,
)

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
LOG_TAIL_LINES = 50
MAX_PROCESSING_SECONDS = 5 * 24 * 3600  # SageMaker's ceiling for MaxRuntimeInSeconds
FAILED, STOPPED = "Failed", "Stopped"
STEP_COMMAND = ["python", "-m", "ml_platform.compute.step_entrypoint"]  # the image's python, not ours
# A FailureReason or exit message saying the container ran out of memory (SageMaker's own wording, the
# kernel's exit code 137 after an OOM kill, Python's MemoryError).
OUT_OF_MEMORY = re.compile(r"more memory|out of memory|OutOfMemory|MemoryError|exit(ed)? with code 137", re.IGNORECASE)
# Throttled or briefly failing API calls (CreateProcessingJob has a low rate limit) back off and retry.
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8})


def processing_job_name(run_id: str, step_key: str, attempt: int, relaunch: str = "") -> str:
    """Unique per run, step, attempt and relaunch; within SageMaker's 63 characters and charset."""
    digest = hashlib.sha1(step_key.encode()).hexdigest()[:8]
    readable = re.sub(r"[^a-zA-Z0-9]+", "-", step_key).strip("-")[:26].strip("-")
    return f"dagster-{run_id[:8]}-{readable}-{digest}-{attempt}{relaunch}"


class SageMakerStepHandler(StepHandler):
    def __init__(self, settings: SageMakerSettings, sagemaker_client=None, logs_client=None):
        super().__init__()
        self._settings = settings
        self._sagemaker = sagemaker_client or boto3.client(
            "sagemaker", region_name=settings.region, endpoint_url=settings.endpoint_url, config=RETRY_CONFIG
        )
        self._logs = logs_client or boto3.client(
            "logs", region_name=settings.region, endpoint_url=settings.endpoint_url, config=RETRY_CONFIG
        )
        self._reported_logs: set[str] = set()

    @property
    def name(self) -> str:
        return "SageMakerStepHandler"

    def _job_name(self, context: StepHandlerContext) -> str:
        step_key = step_key_of(context)
        relaunch = attempt_suffix(context.step_tags[step_key])
        return processing_job_name(context.execute_step_args.run_id, step_key, step_attempt(context, step_key), relaunch)

    def processing_job_request(self, context: StepHandlerContext) -> dict:
        """The ``CreateProcessingJob`` request for this step."""
        step_key = step_key_of(context)
        tags = context.step_tags[step_key]
        profile = get_profile(tags.get(PROFILE_TAG, ""))
        if not isinstance(profile.options, SageMakerOptions):
            raise ValueError(f"step '{step_key}': compute profile '{profile.name}' is not a SageMaker profile")
        # Without the launcher's instance ref, the step loads the image's DAGSTER_HOME/dagster.yaml.
        own_instance = step_args_without_instance_ref(context)
        step_env = {item["name"]: item["value"] for item in own_instance.get_command_env()}
        env = {
            **self._settings.job_env(),
            "DAGSTER_RUN_JOB_NAME": context.dagster_run.job_name,
            "DAGSTER_RUN_STEP_KEY": step_key,
            **{k: v for k, v in step_env.items() if k != STEP_ARGS_ENV},
            **chunk_env(step_env[STEP_ARGS_ENV]),
            **({DECISION_ENV: tags[DECISION_TAG]} if DECISION_TAG in tags else {}),
            **({LAUNCHED_AT_ENV: tags[LAUNCHED_AT_TAG]} if LAUNCHED_AT_TAG in tags else {}),
            CGROUP_ENV: CGROUP_DIR,  # the job's container reads its peak memory from its cgroup
        }
        args = list(own_instance.get_command_args(skip_serialized_namedtuple=True))
        request = {
            "ProcessingJobName": self._job_name(context),
            "RoleArn": self._settings.role_arn,
            "AppSpecification": {
                "ImageUri": self._settings.image_uri,
                "ContainerEntrypoint": STEP_COMMAND,
                "ContainerArguments": args,
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": profile.options.instance_count,
                    "InstanceType": tags.get(INSTANCE_TYPE_TAG, profile.options.instance_type),
                    "VolumeSizeInGB": profile.options.volume_gb,
                }
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": min(  # a ranged run's step computes several days
                int(profile.max_runtime.total_seconds()) * partitions_in_run(context.dagster_run.tags), MAX_PROCESSING_SECONDS)},
            "Environment": env,
            "Tags": [
                {"Key": "dagster/run-id", "Value": context.execute_step_args.run_id},
                {"Key": "dagster/job", "Value": context.dagster_run.job_name},
                {"Key": "dagster/step-key", "Value": step_key[:256]},
                {"Key": PROFILE_TAG, "Value": profile.name},
            ],
        }
        if self._settings.subnets:
            request["NetworkConfig"] = {
                "VpcConfig": {"Subnets": list(self._settings.subnets), "SecurityGroupIds": list(self._settings.security_group_ids)}
            }
        return request

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = step_key_of(step_handler_context)
        request = self.processing_job_request(step_handler_context)
        response = self._sagemaker.create_processing_job(**request)
        yield DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=f'Executing step "{step_key}" in SageMaker Processing Job {request["ProcessingJobName"]}.',
            metadata={
                "SageMaker Processing Job": request["ProcessingJobName"],
                "Processing Job ARN": response["ProcessingJobArn"],
                "Instance type": request["ProcessingResources"]["ClusterConfig"]["InstanceType"],
                "CloudWatch log streams": f"{LOG_GROUP}/{request['ProcessingJobName']}/*",
            },
        )

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        step_key = step_key_of(step_handler_context)
        job_name = self._job_name(step_handler_context)
        try:
            job = self._sagemaker.describe_processing_job(ProcessingJobName=job_name)
        except self._sagemaker.exceptions.ClientError as error:
            return CheckStepHealthResult.unhealthy(f"SageMaker Processing Job {job_name} for step {step_key} could not be read: {error}")
        status = job["ProcessingJobStatus"]
        if status not in (FAILED, STOPPED):
            return CheckStepHealthResult.healthy()
        logs = self._report_logs(step_handler_context, job_name)
        reason = job.get("FailureReason") or job.get("ExitMessage") or "no reason given"
        message = f"SageMaker Processing Job {job_name} for step {step_key} is {status}: {reason}"
        if logs:
            message += f"\nLast job log lines (CloudWatch {LOG_GROUP}):\n" + "\n".join(logs[-LOG_TAIL_LINES:])
        return CheckStepHealthResult.unhealthy(message)

    def infrastructure_failure(self, step_handler_context: StepHandlerContext) -> InfrastructureFailure | None:
        """OOM if the failed job's reason says the container ran out of memory."""
        job_name = self._job_name(step_handler_context)
        job = self._sagemaker.describe_processing_job(ProcessingJobName=job_name)
        reason = job.get("FailureReason") or job.get("ExitMessage") or ""
        if job["ProcessingJobStatus"] == FAILED and OUT_OF_MEMORY.search(reason):
            return InfrastructureFailure(OOM, f"SageMaker Processing Job {job_name} failed: {reason}")
        return None

    def attempt_times(self, step_handler_context: StepHandlerContext) -> tuple[float | None, float | None]:
        """(start, end) of the job's processing, unix time, where SageMaker reports them."""
        job = self._sagemaker.describe_processing_job(ProcessingJobName=self._job_name(step_handler_context))
        start, end = job.get("ProcessingStartTime"), job.get("ProcessingEndTime")
        return (start.timestamp() if start else None), (end.timestamp() if end else None)

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = step_key_of(step_handler_context)
        job_name = self._job_name(step_handler_context)
        yield DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            message=f"Stopping SageMaker Processing Job {job_name} for step {step_key}",
            event_specific_data=EngineEventData(),
        )
        status = self._sagemaker.describe_processing_job(ProcessingJobName=job_name)["ProcessingJobStatus"]
        if status == "InProgress":
            self._sagemaker.stop_processing_job(ProcessingJobName=job_name)

    def job_log_lines(self, job_name: str) -> list[str]:
        """The job's CloudWatch log lines (every instance's stream), oldest first; [] if none yet."""
        try:
            pages = self._logs.get_paginator("filter_log_events").paginate(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job_name}/")
            events = [event for page in pages for event in page.get("events", [])]
        except self._logs.exceptions.ResourceNotFoundException:
            return []
        return [event["message"] for event in sorted(events, key=lambda e: e["timestamp"])]

    def _report_logs(self, context: StepHandlerContext, job_name: str) -> list[str]:
        """Copy the job's logs into the step's event log once, when the job has failed or stopped.

        Only then: a successful step reports its own success before its container exits, and the
        executor stops health-checking a step once that event arrives, so no handler call ever
        sees a Completed job (see docs/compute.md).
        """
        lines = self.job_log_lines(job_name)
        if lines and job_name not in self._reported_logs:
            self._reported_logs.add(job_name)
            context.instance.report_engine_event(
                f"Logs of SageMaker Processing Job {job_name}",
                context.dagster_run,
                EngineEventData(metadata={"CloudWatch logs": dg.MetadataValue.text("\n".join(lines))}),
                step_key=step_key_of(context),
            )
        return lines
