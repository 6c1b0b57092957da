import base64
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.fixtures.kubernetes_cluster import JobController, KmockServer
from tests.fixtures.postgres import find_bin_dir, postgres_server
from tests.fixtures.sagemaker_cloud import REGION, MotoAws, ProcessingJobController, harness_client

ROLE_ARN = "arn:aws:iam::123456789012:role/ml-platform-sagemaker"
DEPLOY_INSTANCE = Path(__file__).parents[2] / "deploy" / "dagster.yaml"
PG_PASSWORD_SECRET = "ml-platform/DAGSTER_PG_PASSWORD"  # the env var DAGSTER_PG_PASSWORD (prefix stripped)


@pytest.fixture(scope="session")
def postgres():
    if find_bin_dir() is None:
        pytest.fail("PostgreSQL server binaries missing: run scripts/ci_system_deps.sh")
    with postgres_server(db_name="compute") as server:
        yield server


STEP_CONFIG_MAP, STEP_SECRET = "ml-platform-step-config", "ml-platform-step-secrets"  # named in step_location


@pytest.fixture
def kube(tmp_path, postgres):
    """A kmock Kubernetes API with a Job controller; yields (controller, kubeconfig path).

    Step pods get the instance settings as production passes them: a ConfigMap and a Secret
    (envFrom), created through the Kubernetes API.
    """
    with KmockServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        core = server.core_api()
        settings = postgres.dagster_env()
        password = settings.pop("DAGSTER_PG_PASSWORD")
        core.create_namespaced_config_map("default", {"metadata": {"name": STEP_CONFIG_MAP}, "data": settings})
        encoded = base64.b64encode(password.encode()).decode()
        core.create_namespaced_secret("default", {"metadata": {"name": STEP_SECRET}, "data": {"DAGSTER_PG_PASSWORD": encoded}})
        with JobController(server.batch_api(), core) as controller:
            yield controller, kubeconfig


@pytest.fixture
def aws(monkeypatch):
    """moto's server: SageMaker, CloudWatch Logs and Secrets Manager over HTTP."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with MotoAws() as server:
        yield server


@pytest.fixture
def sagemaker(monkeypatch, aws, postgres):
    """A processing-job controller; the step's PostgreSQL password is a Secrets Manager secret."""
    secrets = harness_client("secretsmanager", aws.endpoint_url)
    arn = secrets.create_secret(Name=PG_PASSWORD_SECRET, SecretString=postgres.dagster_env()["DAGSTER_PG_PASSWORD"])["ARN"]
    monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_IMAGE", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-platform:1.0")
    monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("ML_PLATFORM_AWS_REGION", REGION)
    monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_ENDPOINT_URL", aws.endpoint_url)
    monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_SECRET_ARNS", arn)
    with ProcessingJobController(aws.endpoint_url, aws.create_requests, stop_requests=aws.stop_requests) as controller:
        yield controller


RUN_WORKER_ENV = (  # copied from the test process by dagster-k8s ("NAME" without a value)
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "ML_PLATFORM_SAGEMAKER_IMAGE",
    "ML_PLATFORM_SAGEMAKER_ROLE_ARN", "ML_PLATFORM_AWS_REGION", "ML_PLATFORM_SAGEMAKER_ENDPOINT_URL",
    "ML_PLATFORM_SAGEMAKER_SECRET_ARNS",
)


@pytest.fixture
def k8s_instance(tmp_path, kube, postgres, monkeypatch):
    """The launching side's instance: deploy/dagster.yaml on PostgreSQL, run launcher dagster-k8s's (kmock)."""
    _, kubeconfig = kube
    for name, value in postgres.dagster_env().items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    config.pop("run_coordinator")  # runs are executed directly by the tests, not queued
    config["run_launcher"] = {
        "module": "dagster_k8s",
        "class": "K8sRunLauncher",
        "config": {
            "service_account_name": "dagster",
            "instance_config_map": "dagster-instance",
            "dagster_home": str(home),
            "job_image": "registry.example.com/ml-platform:1.0",
            "job_namespace": "default",
            "load_incluster_config": False,
            "kubeconfig_file": str(kubeconfig),
            # The run worker's own settings, as the chart's values give them (its pod starts clean too).
            "env_config_maps": [STEP_CONFIG_MAP],
            "env_secrets": [STEP_SECRET],
            "env_vars": [*RUN_WORKER_ENV],
        },
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance
