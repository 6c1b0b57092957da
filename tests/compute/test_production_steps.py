"""The shipped configuration end to end: a Kubernetes step and a SageMaker step of the production
code location (``ML_PLATFORM_ENV=production``, ``ml_platform.definitions``), each in a container
that starts from an empty environment.

- The run is launched by dagster-k8s's ``K8sRunLauncher`` as the Helm chart configures it; its run
  worker is a Job in kmock whose container gets exactly what the Helm values give it: the code
  location's ``env`` and ``envSecrets`` (through the run's container context, as the chart's
  ``includeConfigInLaunchedRuns`` passes them) and the database password by ``secretKeyRef``.
  Only values that name this machine's services replace the example values (database host,
  project, secret ARNs); every name comes from deploy/helm/values.yaml.
- The Kubernetes step pod gets what dagster-k8s gives it (the same env, envFrom, secretKeyRef),
  resolved through the API fake; its Google credentials come from GKE's metadata server.
- The SageMaker container gets the request's ``Environment``, the Dockerfile's ``ENV`` lines and
  the secrets its entrypoint reads from moto's Secrets Manager by ARN; its Google credentials come
  from workload identity federation (the federation config is one of those secrets).
- Storage: PostgreSQL, the BigQuery REST fake, the GCS emulator. The fixtures add only the network:
  endpoints of the local stand-ins for AWS and Google APIs, and the pods' AWS identity.
"""

import base64
import io
import os
import pickle
from urllib.parse import unquote

import dagster as dg
import pandas as pd
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository  # test-only internal
from gcp_storage_emulator.server import create_server
from google.cloud import storage

from ml_platform.compute.step_settings import SECRET_NAME_PREFIX, STEP_SETTINGS
from tests.compute.conftest import DEPLOY_INSTANCE, ROLE_ARN
from tests.compute.helpers import ASSET_JOB, step_failures, wait_for, worker_messages
from tests.fixtures.bigquery_api import BigQueryServer
from tests.fixtures.container_process import REPO_ROOT
from tests.fixtures.google_identity import FEDERATED_SERVICE_ACCOUNT, GKE_SERVICE_ACCOUNT, GoogleIdentityServer
from tests.fixtures.kubernetes_cluster import JobController, KmockServer
from tests.fixtures.sagemaker_cloud import (
    REGION,
    STEP_ROLE_ACCESS_KEY,
    MotoAws,
    ProcessingJobController,
    harness_client,
)

pytestmark = pytest.mark.timeout(400)

VALUES = yaml.safe_load((REPO_ROOT / "deploy/helm/values.yaml").read_text())
(CODE_LOCATION,) = VALUES["dagster-user-deployments"]["deployments"]
PROJECT, DATASET, BUCKET = "ml-platform-test", "ml_platform", "ml-platform-models"
DAY = "2026-11-20"
PG_SECRET = ("dagster-postgresql-secret", "postgresql-password")  # the chart's global.postgresqlSecretName
SLACK_TOKEN = "xoxb-test-not-a-real-token"
FEATURES, MODEL = dg.AssetKey("user_features"), dg.AssetKey("propensity_model")


def helm_env(overrides: dict[str, str]) -> list[dict]:
    """The code location's env from the values, with this machine's values for the names in ``overrides``."""
    names = [item["name"] for item in CODE_LOCATION["env"]]
    assert set(overrides) <= set(names), set(overrides) - set(names)
    return [{"name": item["name"], "value": overrides.get(item["name"], item["value"])} for item in CODE_LOCATION["env"]]


@pytest.fixture
def google():
    """Google's token services, BigQuery (dataset created at deploy time) and GCS (bucket too)."""
    gcs = create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    gcs.start()
    try:
        with GoogleIdentityServer(PROJECT) as identity, BigQueryServer() as bigquery:
            bigquery.datasets.add((PROJECT, DATASET))
            network = {"BIGQUERY_EMULATOR_HOST": bigquery.url, "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs._api._httpd.server_port}"}
            yield identity, bigquery, network
    finally:
        gcs.stop()


@pytest.fixture
def cloud(tmp_path, postgres, google, monkeypatch):
    identity, bigquery, google_network = google
    with MotoAws() as aws, KmockServer() as server:
        secrets = harness_client("secretsmanager", aws.endpoint_url)
        password = postgres.dagster_env()["DAGSTER_PG_PASSWORD"]
        arns = [secrets.create_secret(Name=f"{SECRET_NAME_PREFIX}{name}", SecretString=value)["ARN"]
                for name, value in (("DAGSTER_PG_PASSWORD", password), ("ML_PLATFORM_GCP_CREDENTIAL_CONFIG", identity.federation_config()))]
        core = server.core_api()
        _secret(core, PG_SECRET[0], {PG_SECRET[1]: password})
        _secret(core, "ml-platform-secrets", {"ML_PLATFORM_SLACK_TOKEN": SLACK_TOKEN})
        overrides = {
            **{k: v for k, v in postgres.dagster_env().items() if k != "DAGSTER_PG_PASSWORD"},
            "ML_PLATFORM_GCP_PROJECT": PROJECT, "ML_PLATFORM_BIGQUERY_DATASET": DATASET, "ML_PLATFORM_MODEL_BUCKET": BUCKET,
            "ML_PLATFORM_SAGEMAKER_ROLE_ARN": ROLE_ARN, "ML_PLATFORM_AWS_REGION": REGION,
            "ML_PLATFORM_SAGEMAKER_SECRET_ARNS": ",".join(arns),
        }
        # The cluster's network: the endpoints of the stand-ins. No AWS keys: the run worker assumes its
        # role with its projected service account token (the values' AWS_ROLE_ARN), through moto's STS.
        cluster_network = {**google_network, **identity.network_env, "AWS_ENDPOINT_URL": aws.endpoint_url}
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        with JobController(server.batch_api(), core, network_env=cluster_network) as kube, \
                ProcessingJobController(aws.endpoint_url, aws.create_requests, stop_requests=aws.stop_requests,
                                        network_env=google_network) as sagemaker:
            for name, value in {**{e["name"]: e["value"] for e in helm_env(overrides)}, **postgres.dagster_env()}.items():
                if not name.startswith("AWS_"):  # the pods' identity, not this process's
                    monkeypatch.setenv(name, value)  # the test's own instance client and definitions load read them
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", google_network["STORAGE_EMULATOR_HOST"])  # the test reads the model
            yield _instance(tmp_path, kubeconfig), helm_env(overrides), kube, sagemaker, bigquery, identity, arns, aws


def _secret(core, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    core.create_namespaced_secret("default", {"metadata": {"name": name}, "data": encoded})


def _instance(tmp_path, kubeconfig) -> dg.DagsterInstance:
    """deploy/dagster.yaml on PostgreSQL with the chart's run launcher (values' runLauncher section)."""
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    config.pop("run_coordinator")  # launched directly, as the daemon does after dequeuing
    config["run_launcher"] = {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": {
        "service_account_name": VALUES["global"]["serviceAccountName"],
        "instance_config_map": "ml-platform-dagster-instance",
        "postgres_password_secret": PG_SECRET[0],
        "dagster_home": str(home),
        "job_namespace": "default",
        # In the cluster: loadInclusterConfig. Here the API fake is reached through a kubeconfig.
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
        "run_k8s_config": {"job_spec_config": {"backoff_limit": launcher["runK8sConfig"]["jobSpecConfig"]["backoffLimit"]}},
    }}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


def launch(instance: dg.DagsterInstance, env: list[dict]) -> dg.DagsterRun:
    """As the daemon launches a queued UI "Materialize" of two assets for one partition."""
    image = f"{CODE_LOCATION['image']['repository']}:{CODE_LOCATION['image']['tag']}"
    # What the chart passes to launched runs (includeConfigInLaunchedRuns): env, Secrets, volumes and their mounts.
    context = {"k8s": {"env": env, "env_secrets": [s["name"] for s in CODE_LOCATION["envSecrets"]], "namespace": "default",
                       "volumes": CODE_LOCATION["volumes"], "volume_mounts": CODE_LOCATION["volumeMounts"]}}
    repository = ReconstructableRepository.for_module("ml_platform.definitions", "defs", str(REPO_ROOT), image, context)
    job = repository.get_reconstructable_job(ASSET_JOB)
    run = instance.create_run_for_job(
        job_def=job.get_definition(), job_code_origin=job.get_python_origin(), asset_selection=frozenset({FEATURES, MODEL}),
        tags={"dagster/partition": DAY},
    )
    instance.launch_run(run.run_id, workspace=None)
    wait_for(lambda: instance.get_run_by_id(run.run_id).is_finished, timeout=300, what="the run")
    return instance.get_run_by_id(run.run_id)


def test_kubernetes_and_sagemaker_steps_of_the_production_location_run_from_a_clean_environment(cloud):
    instance, env, kube, sagemaker, bigquery, identity, arns, aws = cloud
    run = launch(instance, env)

    assert run.status == dg.DagsterRunStatus.SUCCESS, step_failures(instance, run.run_id) or [j.output[-3000:] for j in kube.jobs.values()]
    messages = worker_messages(instance, run.run_id)
    assert "in Kubernetes job" in messages["user_features"] and "in SageMaker Processing Job" in messages["propensity_model"]

    # The Kubernetes step wrote the day's features to BigQuery as the GKE service account.
    features = bigquery.table(PROJECT, DATASET, "user_features")
    assert len(features) > 0 and set(pd.to_datetime(features["DATE"]).dt.strftime("%Y-%m-%d")) == {DAY}
    loads = [r for r in bigquery.requests if r.path.startswith("/upload/")]
    assert {r.authorization for r in loads} == {f"Bearer gke-workload-identity:{GKE_SERVICE_ACCOUNT}"}

    # The SageMaker step read them through a query, as the federated service account, and wrote its model to GCS.
    queries = [r for r in bigquery.requests if r.body and "query" in r.body.get("configuration", {})]
    federated = f"Bearer impersonated:{FEDERATED_SERVICE_ACCOUNT}"  # the run worker's own checks query as the GKE account
    assert any("user_features" in r.body["configuration"]["query"]["query"] for r in queries if r.authorization == federated)
    assert {r.authorization for r in bigquery.requests} <= {federated, f"Bearer gke-workload-identity:{GKE_SERVICE_ACCOUNT}"}
    # google-auth's subject token: the GetCallerIdentity request it signed with the job role's credentials.
    # The container has no AWS keys: the role's credentials come from SageMaker's credentials endpoint.
    subject_token = unquote(identity.sts_requests[0]["subject_token"]) if identity.sts_requests else ""
    assert "sts.eu-west-1.amazonaws.com" in subject_token and f"Credential={STEP_ROLE_ACCESS_KEY}/" in subject_token
    model = pickle.load(io.BytesIO(storage.Client().bucket(BUCKET).blob("ml_platform/models/propensity_model").download_as_bytes()))
    assert model.predict_proba(pd.DataFrame(features).rename(columns=str.lower)[list(model.feature_names_in_)])[:, 1].shape == (len(features),)
    assert instance.get_latest_materialization_event(MODEL).run_id == run.run_id

    # The run worker launched the SageMaker job as the role it assumed with its service account's token.
    assert {"aud": "sts.amazonaws.com"}.items() <= kube.projected_tokens[0].items()
    launched_as = {key for key, actions in aws.actions.items() if "sagemaker:CreateProcessingJob" in actions}
    assert launched_as and launched_as <= aws.issued_access_keys()

    # What each container was given: names only, never a secret's value.
    (processing_job,) = sagemaker.wait_until_finished().values()
    environment = processing_job.request["Environment"]
    assert {name for name in STEP_SETTINGS if name in environment} == {e["name"] for e in env} & set(STEP_SETTINGS)
    assert sorted(v for k, v in environment.items() if k.startswith("ML_PLATFORM_SECRET_ARN_")) == sorted(arns)
    jobs = kube.wait_until_finished()
    specs = [str(j.manifest) for j in jobs.values()] + [str(processing_job.request)]
    for secret in (os.environ["DAGSTER_PG_PASSWORD"], SLACK_TOKEN, identity.federation_config(), '"type": "external_account"'):
        assert not any(secret in spec for spec in specs)
    run_worker = next(j for j in jobs.values() if "dagster-run-" in j.name)
    container = run_worker.manifest["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"] for e in container["env"] if "valueFrom" in e} >= {"DAGSTER_PG_PASSWORD"}
    assert {"secretRef": {"name": "ml-platform-secrets"}} in [{k: v for k, v in ref.items() if v} for ref in container["envFrom"]]
