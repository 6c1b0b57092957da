"""deploy/iam grants exactly the AWS actions the platform calls, on exactly the resources it calls
them on: collected from moto's server.

One run per path that calls AWS (a SageMaker step that succeeds, one that fails, a run
terminated mid-step); every request is attributed by its access key to the run worker (the
test process's key) or to the job's role (the key the fake SageMaker gives its container), with
the ARN IAM would authorize it against. Both ways: every call is allowed by a statement (action
and resource), and every statement's actions are called on resources it names.
"""

import json
from fnmatch import fnmatchcase
from pathlib import Path

import dagster as dg
import pytest

from tests.compute.helpers import reconstructable_job, wait_for
from tests.fixtures.sagemaker_cloud import HANG, STEP_ROLE_ACCESS_KEY

pytestmark = pytest.mark.timeout(240)

IAM = Path(__file__).parents[2] / "deploy" / "iam"
RUN_WORKER_KEY = "testing"  # the aws fixture's credentials, used by the run worker's boto3 clients
# What SageMaker itself does with the role before our container starts (pull the image, attach
# network interfaces in the VPC, create the log group): no moto call can play it.
PROVISIONING = {
    "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability", "ecr:GetAuthorizationToken",
    "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "logs:CreateLogGroup",
}


def statements(policy: str) -> list[tuple[set[str], list[str]]]:
    """(actions, resource patterns) of each statement."""
    def listed(value) -> list[str]:
        return [value] if isinstance(value, str) else list(value)

    return [(set(listed(s["Action"])), listed(s["Resource"])) for s in json.loads((IAM / policy).read_text())["Statement"]]


def not_allowed(calls: set[tuple[str, str]], policy: str) -> set[tuple[str, str]]:
    return {(action, resource) for action, resource in calls
            if not any(action in actions and any(fnmatchcase(resource, p) for p in patterns) for actions, patterns in statements(policy))}


def unused(calls: set[tuple[str, str]], policy: str, exempt: set[str] = frozenset()) -> set[tuple[str, str]]:
    """(action, resource pattern) pairs of the policy that no call exercised."""
    return {(action, pattern) for actions, patterns in statements(policy) for action in actions - exempt for pattern in patterns
            if not any(a == action and fnmatchcase(r, pattern) for a, r in calls)}


def granted(policy: str) -> set[str]:
    statements = json.loads((IAM / policy).read_text())["Statement"]
    actions = set()
    for statement in statements:
        assert statement["Effect"] == "Allow" and "*" not in "".join(statement.get("Action", [])), statement["Sid"]
        actions.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    return actions


def test_iam_policies_grant_exactly_the_actions_the_cloud_paths_call(k8s_instance, kube, sagemaker, aws):
    assert dg.execute_job(reconstructable_job("cloud_defs"), instance=k8s_instance).success
    sagemaker.plans["sagemaker_model"] = ("fail", "CapacityError: no capacity")
    assert not dg.execute_job(reconstructable_job("cloud_defs"), instance=k8s_instance, raise_on_error=False).success

    sagemaker.plans["slow_sagemaker"] = HANG
    job = reconstructable_job("slow_cloud_defs")
    run = k8s_instance.create_run_for_job(job_def=job.get_definition(), job_code_origin=job.get_python_origin())
    k8s_instance.launch_run(run.run_id, workspace=None)
    wait_for(lambda: any(j.statuses == ["InProgress"] for j in sagemaker.jobs.values() if j.step_key == "slow_sagemaker"),
             timeout=90, what="the SageMaker step to run")
    assert k8s_instance.run_launcher.terminate(run.run_id)
    wait_for(lambda: k8s_instance.get_run_by_id(run.run_id).is_finished, timeout=60, what="the run to finish")
    sagemaker.wait_until_finished()

    assert aws.actions[RUN_WORKER_KEY] == granted("run-worker-policy.json")
    role_policy = granted("sagemaker-role-policy.json")
    assert PROVISIONING <= role_policy
    assert aws.actions[STEP_ROLE_ACCESS_KEY] == role_policy - PROVISIONING
    assert not any(action.startswith("s3:") for action in role_policy)  # models go to GCS

    for key, policy in ((RUN_WORKER_KEY, "run-worker-policy.json"), (STEP_ROLE_ACCESS_KEY, "sagemaker-role-policy.json")):
        assert not_allowed(aws.calls[key], policy) == set(), policy
        assert unused(aws.calls[key], policy, exempt=PROVISIONING) == set(), policy
    secrets_read = {r for a, r in aws.calls[STEP_ROLE_ACCESS_KEY] if a == "secretsmanager:GetSecretValue"}
    assert secrets_read and all(":secret:ml-platform/" in arn for arn in secrets_read)  # the documented prefix


def test_a_secret_outside_the_documented_prefix_is_not_granted_to_the_role():
    outside = ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:DAGSTER_PG_PASSWORD-AbCdEf")
    inside = ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ml-platform/DAGSTER_PG_PASSWORD-AbCdEf")
    assert not_allowed({outside, inside}, "sagemaker-role-policy.json") == {outside}
