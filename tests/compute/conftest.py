import dagster as dg
import pytest

from tests.fixtures.kubernetes_cluster import JobController, KmockServer
from tests.fixtures.sagemaker_cloud import REGION, MotoAws, ProcessingJobController

ROLE_ARN = "arn:aws:iam::123456789012:role/ml-platform-sagemaker"


@pytest.fixture
def kube(tmp_path):
    """A kmock Kubernetes API with a Job controller; yields (controller, kubeconfig path)."""
    with KmockServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        with JobController(server.batch_api()) as controller:
            yield controller, kubeconfig


@pytest.fixture
def sagemaker(monkeypatch):
    """moto's SageMaker + CloudWatch Logs with a processing-job controller, wired via ML_PLATFORM_* env vars."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with MotoAws() as aws:
        monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_IMAGE", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-platform:1.0")
        monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_ROLE_ARN", ROLE_ARN)
        monkeypatch.setenv("ML_PLATFORM_AWS_REGION", REGION)
        monkeypatch.setenv("ML_PLATFORM_SAGEMAKER_ENDPOINT_URL", aws.endpoint_url)
        with ProcessingJobController(aws.endpoint_url, aws.create_requests, stop_requests=aws.stop_requests) as controller:
            yield controller


@pytest.fixture
def k8s_instance(tmp_path, kube):
    """A persistent Dagster instance whose run launcher is dagster-k8s's, pointed at kmock."""
    _, kubeconfig = kube
    home = tmp_path / "dagster_home"
    home.mkdir()
    launcher = {
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
        },
    }
    with dg.instance_for_test(temp_dir=str(home), overrides={"run_launcher": launcher}) as instance:
        yield instance
