"""Container entry point of a SageMaker step: secrets and step arguments into the environment.

SageMaker caps each environment value at 256 characters, and Dagster's compressed step
arguments are longer, so the SageMaker step handler splits them into numbered variables;
this module joins them into ``DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS``. Secrets never travel in
the job's plaintext ``Environment``: the job names them by ARN (``ML_PLATFORM_SECRET_ARN_*``),
and this module reads them from AWS Secrets Manager with the job's IAM role, with dagster-aws's
``SecretsManagerSecretsResource``: the secret ``ml-platform/NAME`` becomes the env var ``NAME``
(``step_settings.env_name_of_secret``). A workload identity federation config
(``ML_PLATFORM_GCP_CREDENTIAL_CONFIG``, from a secret or the environment) is written to a file
that ``GOOGLE_APPLICATION_CREDENTIALS`` names, as google-auth needs a file. Then it execs the
step command (``python -m ml_platform.compute.step_entrypoint dagster api execute_step``), which
loads the instance from the image's ``dagster.yaml``.
"""

import os
import sys
import tempfile

from ml_platform.compute.step_settings import GCP_CREDENTIAL_CONFIG_ENV, env_name_of_secret

CHUNK_PREFIX = "ML_PLATFORM_STEP_ARGS_"
SECRET_ARN_PREFIX = "ML_PLATFORM_SECRET_ARN_"
CHUNK_SIZE = 256
STEP_ARGS_ENV = "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS"


def chunk_env(value: str) -> dict[str, str]:
    return {f"{CHUNK_PREFIX}{i // CHUNK_SIZE:03d}": value[i : i + CHUNK_SIZE] for i in range(0, len(value), CHUNK_SIZE)}


def join_env(env: dict[str, str]) -> str:
    return "".join(env[name] for name in sorted(n for n in env if n.startswith(CHUNK_PREFIX)))


def secret_arn_env(arns: list[str]) -> dict[str, str]:
    return {f"{SECRET_ARN_PREFIX}{i:03d}": arn for i, arn in enumerate(arns)}


def fetch_secrets(arns: list[str]) -> dict[str, str]:
    """{env var name: value} for each ARN; exits naming the secret that cannot be read or is misnamed."""
    import botocore.exceptions
    from dagster_aws.secretsmanager import SecretsManagerSecretsResource

    secrets = {}
    for arn in arns:  # one at a time, so a failure names its secret
        try:
            fetched = SecretsManagerSecretsResource(secrets=[arn]).fetch_secrets()
            secrets.update({env_name_of_secret(name): value for name, value in fetched.items()})
        except botocore.exceptions.ClientError as error:
            sys.exit(f"step container: cannot read secret {arn} from AWS Secrets Manager: {error}")
        except ValueError as error:
            sys.exit(f"step container: {error}")
    return secrets


def write_gcp_credentials(env: dict[str, str]) -> None:
    """google-auth reads a credential configuration from the file GOOGLE_APPLICATION_CREDENTIALS
    names; the federation config arrives as a value, so it goes to a private file first."""
    config = env.pop(GCP_CREDENTIAL_CONFIG_ENV, None)
    if not config:
        return
    descriptor, path = tempfile.mkstemp(prefix="gcp-credential-config-", suffix=".json")  # mode 0600
    with os.fdopen(descriptor, "w") as file:
        file.write(config)
    env["GOOGLE_APPLICATION_CREDENTIALS"] = path


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m ml_platform.compute.step_entrypoint <step command...>")
    arns = [os.environ[name] for name in sorted(os.environ) if name.startswith(SECRET_ARN_PREFIX)]
    env = {k: v for k, v in os.environ.items() if not k.startswith((CHUNK_PREFIX, SECRET_ARN_PREFIX))}
    env.update(fetch_secrets(arns) if arns else {})
    write_gcp_credentials(env)
    env[STEP_ARGS_ENV] = join_env(dict(os.environ))
    if not env[STEP_ARGS_ENV]:
        sys.exit(f"no {CHUNK_PREFIX}* variables in the environment: nothing to execute")
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
