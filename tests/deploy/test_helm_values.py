"""The Helm values carry every variable production reads, and docs/operations.md agrees with them."""

import json
import re
from pathlib import Path

import yaml

from ml_platform.compute.step_settings import REQUIRED_STEP_SETTINGS, SECRET_NAME_PREFIX, STEP_SECRETS

ROOT = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((ROOT / "deploy/helm/values.yaml").read_text())
OPERATIONS = (ROOT / "docs/operations.md").read_text()
INSTALL_STEPS = OPERATIONS[OPERATIONS.index("## Deploy on Kubernetes with the Helm chart"):OPERATIONS.index("## Warehouse and model store")]
(DEPLOYMENT,) = VALUES["dagster-user-deployments"]["deployments"]
ENV = {item["name"]: item.get("value") for item in DEPLOYMENT["env"]}
CHART_POSTGRES_SECRET = ("dagster-postgresql-secret", "postgresql-password")  # the chart's global.postgresqlSecretName
# Read in production, and where each comes from when not a plain value of the code location's env.
IN_SECRETS = {"ML_PLATFORM_SLACK_TOKEN": "ml-platform-secrets", "DAGSTER_PG_PASSWORD": CHART_POSTGRES_SECRET[0]}
WITH_DEFAULTS = {  # optional: a default applies when unset (documented with the feature)
    "ML_PLATFORM_SLACK_API_URL", "ML_PLATFORM_ALERT_CHANNEL_ERROR", "ML_PLATFORM_ALERT_CHANNEL_FATAL",
    "ML_PLATFORM_ALERT_CHANNEL_WARN", "ML_PLATFORM_COST_JUMP_DAYS", "ML_PLATFORM_COST_JUMP_FACTOR", "ML_PLATFORM_COST_JUMP_MIN_USD",
    "ML_PLATFORM_DEADLINE_SAFETY_FACTOR", "ML_PLATFORM_PRICE_SHEET", "ML_PLATFORM_LOCAL_START_METHOD",
    "ML_PLATFORM_SAGEMAKER_ENDPOINT_URL", "ML_PLATFORM_SAGEMAKER_ENV_VARS",
}
LOCAL_ONLY = {"ML_PLATFORM_DUCKDB_PATH"}
# Set by the platform itself on a step container, never by the deployment.
SET_BY_THE_PLATFORM = {"ML_PLATFORM_CAPACITY", "ML_PLATFORM_MEMORY_DECISION", "ML_PLATFORM_LAUNCHED_AT", "ML_PLATFORM_CGROUP_DIR"}


def variables_the_code_reads() -> set[str]:
    code = "\n".join(p.read_text() for p in (ROOT / "ml_platform").rglob("*.py"))
    return set(re.findall(r'"(ML_PLATFORM_[A-Z0-9_]*[A-Z0-9])"', code)) | set(REQUIRED_STEP_SETTINGS)


def test_every_variable_production_reads_is_in_the_values_or_a_named_secret():
    unaccounted = variables_the_code_reads() - set(ENV) - set(IN_SECRETS) - set(STEP_SECRETS) - WITH_DEFAULTS - LOCAL_ONLY - SET_BY_THE_PLATFORM
    assert unaccounted == set()
    assert ENV["ML_PLATFORM_ENV"] == "production"
    assert set(REQUIRED_STEP_SETTINGS) <= set(ENV)  # what every step container needs, forwarded from here
    assert all(value for value in ENV.values()), "an env entry without a value copies nothing in the run worker"


def test_secrets_the_values_name_are_the_ones_the_docs_ask_you_to_create():
    assert not VALUES["postgresql"]["enabled"] and VALUES["generatePostgresqlPasswordSecret"] is False
    named = {s["name"] for s in DEPLOYMENT.get("envSecrets", [])} | {CHART_POSTGRES_SECRET[0]}
    created = set(re.findall(r"create secret generic (\S+)", INSTALL_STEPS))
    assert created == named  # none that the chart would generate (a conflict at install), none missing
    assert f"--from-literal={CHART_POSTGRES_SECRET[1]}=" in INSTALL_STEPS
    assert set(IN_SECRETS.values()) <= named
    assert "--from-literal=ML_PLATFORM_SLACK_TOKEN=" in INSTALL_STEPS


def test_docs_list_every_value_of_the_code_location_env_and_the_database_agrees():
    assert {name for name in ENV if f"`{name}`" not in INSTALL_STEPS} == set()
    assert ENV["DAGSTER_PG_HOST"] == VALUES["postgresql"]["postgresqlHost"]
    assert ENV["DAGSTER_PG_USERNAME"] == VALUES["postgresql"]["postgresqlUsername"]
    assert ENV["DAGSTER_PG_DB"] == VALUES["postgresql"]["postgresqlDatabase"]
    assert ENV["DAGSTER_PG_PORT"] == str(VALUES["postgresql"]["service"]["port"])
    assert DEPLOYMENT["includeConfigInLaunchedRuns"]["enabled"]  # run workers and step pods get the env


def test_sagemaker_secret_arns_follow_the_documented_names_and_cover_every_step_secret():
    arns = ENV["ML_PLATFORM_SAGEMAKER_SECRET_ARNS"].split(",")
    names = {re.search(r":secret:(.+)-[A-Za-z0-9]{6}$", arn).group(1) for arn in arns}
    assert names == {SECRET_NAME_PREFIX + name for name in STEP_SECRETS}
    assert all(f"`{name}`" in INSTALL_STEPS for name in names)


def test_the_gke_trust_policy_admits_exactly_the_token_the_values_project_for_the_run_workers():
    """AWS STS checks the projected token's subject and audience against the role's trust policy."""
    trust = json.loads((ROOT / "deploy/iam/run-worker-trust-gke.json").read_text())
    (statement,) = trust["Statement"]
    issuer = statement["Principal"]["Federated"].split(":oidc-provider/", 1)[1]
    namespace = VALUES["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"]
    (volume,) = [v for v in DEPLOYMENT["volumes"] if v["name"] == "aws-token"]
    (token,) = [s["serviceAccountToken"] for s in volume["projected"]["sources"]]
    (mount,) = [m for m in DEPLOYMENT["volumeMounts"] if m["name"] == "aws-token"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{VALUES['global']['serviceAccountName']}",
        f"{issuer}:aud": token["audience"],
    }
    assert ENV["AWS_WEB_IDENTITY_TOKEN_FILE"] == f"{mount['mountPath']}/{token['path']}"
    assert ENV["AWS_ROLE_ARN"].endswith(":role/ml-platform-run-worker") and "ml-platform-run-worker" in INSTALL_STEPS
