"""What a step container reads from its environment, and how the deployment gives it.

A step (Kubernetes pod or SageMaker Processing Job) loads the production code location and the
image's instance file, so it needs the settings below. The deployment gives them to the run
worker (Helm values: the code location's ``env``, the run launcher's ``envConfigMaps`` /
``envSecrets``), and from there:

- Kubernetes step pods get the run worker's ``env`` and ``envFrom`` from dagster-k8s itself
  (the run's container context), so a pod sees what the run worker sees.
- SageMaker jobs get, in their ``Environment``, the run worker's values of ``STEP_SETTINGS``
  (plaintext, visible in the SageMaker API: never secrets), and the ARNs of
  ``ML_PLATFORM_SAGEMAKER_SECRET_ARNS``, which the container reads itself
  (``step_entrypoint``). A secret named ``ml-platform/NAME`` becomes the env var ``NAME``: the
  prefix is what the job's IAM role may read (deploy/iam/sagemaker-role-policy.json).
"""

import re

# Settings every step reads (the image's deploy/dagster.yaml and the production resources).
REQUIRED_STEP_SETTINGS = (
    "ML_PLATFORM_ENV",
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_DB",
    "ML_PLATFORM_GCP_PROJECT",
    "ML_PLATFORM_BIGQUERY_DATASET",
    "ML_PLATFORM_GCP_LOCATION",
    "ML_PLATFORM_MODEL_BUCKET",
)
OPTIONAL_STEP_SETTINGS = ("ML_PLATFORM_PRICE_SHEET",)
STEP_SETTINGS = REQUIRED_STEP_SETTINGS + OPTIONAL_STEP_SETTINGS
# Secrets a step needs; on SageMaker each comes from the Secrets Manager secret "ml-platform/<NAME>".
STEP_SECRETS = ("DAGSTER_PG_PASSWORD", "ML_PLATFORM_GCP_CREDENTIAL_CONFIG")

SECRET_NAME_PREFIX = "ml-platform/"
# A workload identity federation credential configuration (JSON, no key) that lets the job's AWS
# role act as a Google service account; the entrypoint writes it to a file for google-auth.
GCP_CREDENTIAL_CONFIG_ENV = "ML_PLATFORM_GCP_CREDENTIAL_CONFIG"
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def env_name_of_secret(secret_name: str) -> str:
    """``ml-platform/DAGSTER_PG_PASSWORD`` -> ``DAGSTER_PG_PASSWORD``; anything else is refused."""
    name = secret_name.removeprefix(SECRET_NAME_PREFIX)
    if not secret_name.startswith(SECRET_NAME_PREFIX) or not _ENV_NAME.fullmatch(name):
        raise ValueError(
            f"secret '{secret_name}': step secrets must be named '{SECRET_NAME_PREFIX}<ENV_VAR_NAME>'"
            f" (e.g. '{SECRET_NAME_PREFIX}DAGSTER_PG_PASSWORD'); the job's role may read only '{SECRET_NAME_PREFIX}*'"
        )
    return name
