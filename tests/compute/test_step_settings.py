"""How the deployment configures step containers: names, secrets, and the run worker's settings."""

import json
import os

import dagster as dg
import pytest

from ml_platform.compute.backends.sagemaker import SageMakerSettings
from ml_platform.compute.routing_executor import executor_for_env
from ml_platform.compute.step_entrypoint import write_gcp_credentials
from ml_platform.compute.step_settings import GCP_CREDENTIAL_CONFIG_ENV, REQUIRED_STEP_SETTINGS, env_name_of_secret

RUN_WORKER = {"ML_PLATFORM_SAGEMAKER_IMAGE": "image:1", "ML_PLATFORM_SAGEMAKER_ROLE_ARN": "arn:aws:iam::1:role/r",
              "ML_PLATFORM_AWS_REGION": "eu-west-1", **{name: f"value of {name}" for name in REQUIRED_STEP_SETTINGS},
              "ML_PLATFORM_ENV": "production"}


def test_secret_names_carry_the_prefix_the_role_may_read_and_lose_it_as_env_vars():
    assert env_name_of_secret("ml-platform/DAGSTER_PG_PASSWORD") == "DAGSTER_PG_PASSWORD"
    for bad in ("DAGSTER_PG_PASSWORD", "ml-platform/db-password", "other/DAGSTER_PG_PASSWORD"):
        with pytest.raises(ValueError, match="must be named 'ml-platform/<ENV_VAR_NAME>'"):
            env_name_of_secret(bad)


def test_federation_config_goes_to_a_private_file_named_by_google_application_credentials():
    config = json.dumps({"type": "external_account", "audience": "//iam.googleapis.com/x"})
    env = {GCP_CREDENTIAL_CONFIG_ENV: config, "OTHER": "1"}
    write_gcp_credentials(env)
    path = env["GOOGLE_APPLICATION_CREDENTIALS"]
    assert GCP_CREDENTIAL_CONFIG_ENV not in env and env["OTHER"] == "1"
    assert open(path).read() == config and os.stat(path).st_mode & 0o777 == 0o600
    os.remove(path)


def test_sagemaker_jobs_get_the_run_workers_step_settings(monkeypatch):
    for name, value in RUN_WORKER.items():
        monkeypatch.setenv(name, value)
    env = SageMakerSettings.from_config({}).job_env()
    assert {name: env[name] for name in REQUIRED_STEP_SETTINGS} == {name: RUN_WORKER[name] for name in REQUIRED_STEP_SETTINGS}


def test_a_run_worker_without_a_step_setting_fails_at_start_naming_it(monkeypatch):
    for name, value in RUN_WORKER.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ML_PLATFORM_MODEL_BUCKET")
    with pytest.raises(dg.DagsterInvalidConfigError, match="env ML_PLATFORM_MODEL_BUCKET in the run worker: set them in the Helm values"):
        SageMakerSettings.from_config({})


def test_run_config_reaches_the_production_executor_but_cannot_change_the_real_backends():
    schema = executor_for_env("production").config_schema
    resolved = schema.resolve_config({"config": {"sagemaker": {"env_vars": ["EXTRA=1"]}}})
    assert resolved.success and resolved.value["config"]["sagemaker"]["env_vars"] == ["EXTRA=1"]
    assert resolved.value["config"]["real_backends"] == ["kubernetes", "sagemaker"]
    assert not schema.resolve_config({"config": {"sagemaker": {"env_var": ["EXTRA=1"]}}}).success  # a typo is refused


def test_a_runs_own_secrets_are_added_to_the_deployments_not_put_in_their_place(monkeypatch):
    for name, value in RUN_WORKER.items():
        monkeypatch.setenv(name, value)
    deployment = "arn:aws:secretsmanager:eu-west-1:1:secret:ml-platform/DAGSTER_PG_PASSWORD-AbCdEf"
    own = "arn:aws:secretsmanager:eu-west-1:1:secret:ml-platform/FEATURE_STORE_TOKEN-GhIjKl"
    monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_SECRET_ARNS", deployment)
    settings = SageMakerSettings.from_config({"secret_arns": [own, deployment]})
    assert settings.secret_arns == (deployment, own)
    assert set(SageMakerSettings.from_config({}).job_env().values()) >= {deployment}
