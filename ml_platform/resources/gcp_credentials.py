"""Google credentials for the platform's BigQuery and GCS clients, from any AWS identity too.

``google.auth.default()`` serves GKE's Workload Identity (the metadata server) and key files. For
workload identity federation from AWS, google-auth's own AWS source reads only keys in the
environment or EC2's instance metadata, and neither exists where our AWS steps run: a SageMaker
job's role arrives through the container credentials endpoint, an EKS pod's through IRSA's web
identity token. So an AWS federation config (``GOOGLE_APPLICATION_CREDENTIALS``, written by the
step entrypoint) is loaded with a supplier that takes the role's credentials from boto3, which
reads every AWS source and renews temporary credentials before they expire. Anything else is left
to ``google.auth.default()`` (``None`` here).
"""

import functools
import json
import os

from dagster_gcp import GCSResource
from google.auth import aws, exceptions

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class Boto3AwsCredentials(aws.AwsSecurityCredentialsSupplier):
    """The AWS role's credentials and region as boto3 finds them (google-auth asks per token exchange)."""

    def __init__(self):
        import boto3

        self._session = boto3.Session()

    def get_aws_security_credentials(self, context, request) -> aws.AwsSecurityCredentials:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise exceptions.RefreshError(
                "workload identity federation from AWS: no AWS credentials found (the job's or pod's IAM role)"
            )
        frozen = credentials.get_frozen_credentials()  # renews expiring role credentials first
        return aws.AwsSecurityCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def get_aws_region(self, context, request) -> str:
        region = self._session.region_name or os.environ.get("AWS_REGION")  # boto3 reads AWS_DEFAULT_REGION only
        if not region:
            raise exceptions.RefreshError("workload identity federation from AWS: set AWS_REGION or AWS_DEFAULT_REGION")
        return region


def federated_aws_credentials() -> aws.Credentials | None:
    """Credentials for an AWS federation config, or None: let the client call google.auth.default().
    One object per process and config file, so its token is exchanged once and reused until it
    expires, not at every client a step opens."""
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    return _federated(path) if path else None


@functools.cache
def _federated(path: str) -> aws.Credentials | None:
    try:
        with open(path) as file:
            info = json.load(file)
        if not isinstance(info, dict):
            raise ValueError(f"a JSON {type(info).__name__}, not an object (a secret stored JSON-encoded twice?)")
    except (OSError, ValueError) as error:
        raise ValueError(
            f"GOOGLE_APPLICATION_CREDENTIALS={path}: not a readable credential configuration ({error}); on SageMaker it is "
            "the secret ml-platform/ML_PLATFORM_GCP_CREDENTIAL_CONFIG (gcloud iam workload-identity-pools create-cred-config)"
        ) from None
    source = info.get("credential_source") or {}
    if info.get("type") != "external_account" or not str(source.get("environment_id", "")).startswith("aws"):
        return None
    info = {key: value for key, value in info.items() if key != "credential_source"}
    return aws.Credentials.from_info(info, aws_security_credentials_supplier=Boto3AwsCredentials(), scopes=list(SCOPES))


class FederatedGCSResource(GCSResource):
    """dagster-gcp's GCS resource, with federated AWS credentials where a step runs on AWS."""

    def get_client(self):
        from google.cloud import storage

        return storage.Client(project=self.project, credentials=federated_aws_credentials())
