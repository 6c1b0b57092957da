"""Google credentials from an AWS identity that has no keys in the environment: an EKS pod's IRSA
web identity token (boto3 assumes the role through moto's STS), exchanged at Google's token
service (the local stand-in) by google-auth with the platform's boto3 supplier."""

from urllib.parse import unquote

import google.auth.transport.requests
import pytest

from ml_platform.resources.gcp_credentials import federated_aws_credentials
from tests.fixtures.google_identity import FEDERATED_SERVICE_ACCOUNT, GoogleIdentityServer
from tests.fixtures.sagemaker_cloud import REGION, MotoAws

ROLE = "arn:aws:iam::123456789012:role/ml-platform-steps"


@pytest.fixture
def clean_aws_env(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata here, as in a pod
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_an_eks_pods_irsa_role_is_exchanged_for_the_federated_google_service_account(tmp_path, monkeypatch, clean_aws_env):
    with MotoAws() as aws, GoogleIdentityServer("ml-platform-test") as identity:
        token = tmp_path / "token"
        token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bWwtcGxhdGZvcm0ifQ.c2ln")
        config = tmp_path / "federation.json"
        config.write_text(identity.federation_config())
        for name, value in {
            "AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token), "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": aws.endpoint_url, "GOOGLE_APPLICATION_CREDENTIALS": str(config),
        }.items():
            monkeypatch.setenv(name, value)
        credentials = federated_aws_credentials()
        credentials.refresh(google.auth.transport.requests.Request())

        assert credentials.token == f"impersonated:{FEDERATED_SERVICE_ACCOUNT}"
        subject_token = unquote(identity.sts_requests[-1]["subject_token"])
        assert f"sts.{REGION}.amazonaws.com" in subject_token
        # Signed with temporary credentials of the role assumed with the pod's token (moto's STS issued them).
        signed_with = subject_token.split("Credential=", 1)[1].split("/", 1)[0]
        assert signed_with.startswith("ASIA") and signed_with in aws.issued_access_keys()


def test_other_credentials_are_left_to_google_auth_default(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    assert federated_aws_credentials() is None  # GKE Workload Identity: the metadata server
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account"}')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    assert federated_aws_credentials() is None


@pytest.mark.parametrize("content", ['{"type": "external_account", "audience"', '"{\\"type\\": \\"external_account\\"}"', "[]"])
def test_a_broken_federation_config_names_the_file_and_the_secret(tmp_path, monkeypatch, content):
    config = tmp_path / "federation.json"
    config.write_text(content)  # cut off, JSON-encoded twice, not an object
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(config))
    with pytest.raises(ValueError, match=f"GOOGLE_APPLICATION_CREDENTIALS={config}: not a readable credential configuration") as raised:
        federated_aws_credentials()
    assert "ml-platform/ML_PLATFORM_GCP_CREDENTIAL_CONFIG" in str(raised.value)
