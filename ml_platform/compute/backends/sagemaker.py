"""The SageMaker backend: a step is a SageMaker Processing Job (``sagemaker_jobs``, imported when a
run first uses it). Here: a profile's SageMaker fields, the instance sizes automatic memory picks
from, the instance-hour price, and where and as whom jobs run (``SageMakerSettings``).

Sizes: memory is the instance's nominal memory (AWS's instance-type table); the container gets a
little less, which the automatic-memory margin covers. Only families listed here can be sized;
another instance type keeps its declared size.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg

from ml_platform.compute.backends.base import GIB, Backend, SheetReader, StepPrice, quantity_bytes
from ml_platform.compute.infrastructure_retry import OOM
from ml_platform.compute.step_entrypoint import secret_arn_env
from ml_platform.compute.step_settings import REQUIRED_STEP_SETTINGS, STEP_SETTINGS

INSTANCE_TYPE_TAG = "ml_platform/sagemaker_instance_type"  # the sized instance type, read by the step handler

# family -> (size, memory GiB), smallest first
FAMILIES: dict[str, tuple[tuple[str, int], ...]] = {
    "ml.m5": (("large", 8), ("xlarge", 16), ("2xlarge", 32), ("4xlarge", 64), ("12xlarge", 192), ("24xlarge", 384)),
    "ml.r5": (("large", 16), ("xlarge", 32), ("2xlarge", 64), ("4xlarge", 128), ("12xlarge", 384), ("24xlarge", 768)),
    "ml.c5": (("large", 4), ("xlarge", 8), ("2xlarge", 16), ("4xlarge", 32), ("9xlarge", 72), ("18xlarge", 144)),
}


def _ladder(instance_type: str) -> list[tuple[str, int]]:
    family, _, _ = instance_type.rpartition(".")
    return [(f"{family}.{size}", gib * GIB) for size, gib in FAMILIES.get(family, ())]


def instance_memory_bytes(instance_type: str) -> int:
    for name, memory in _ladder(instance_type):
        if name == instance_type:
            return memory
    raise KeyError(f"unknown SageMaker instance type '{instance_type}' (sized families: {', '.join(FAMILIES)})")


def smallest_instance_holding(instance_type: str, memory_bytes: int) -> str:
    """The smallest type of ``instance_type``'s family with at least ``memory_bytes``; the largest if none."""
    ladder = _ladder(instance_type)
    if not ladder:
        return instance_type
    return next((name for name, memory in ladder if memory >= memory_bytes), ladder[-1][0])


def next_instance(instance_type: str) -> str | None:
    """The next size up in the same family, or None at the top."""
    names = [name for name, _ in _ladder(instance_type)]
    position = names.index(instance_type) if instance_type in names else len(names)
    return names[position + 1] if position + 1 < len(names) else None


def _env(name: str) -> str | None:
    return dg.EnvVar(name).get_value()


@dataclass(frozen=True)
class SageMakerSettings:
    """Where and as whom processing jobs run. Read when the executor starts, never at import."""

    image_uri: str
    role_arn: str
    region: str
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    endpoint_url: str | None = None  # a SageMaker-compatible endpoint (VPC endpoint, or moto in tests)
    # Plaintext job env, as dagster-k8s's env_vars: "NAME=value", or "NAME" to copy the launcher's value.
    # Never secrets: the job's Environment is visible in the SageMaker console and API.
    env_vars: tuple[str, ...] = STEP_SETTINGS
    secret_arns: tuple[str, ...] = ()  # Secrets Manager secrets, read in the container: name -> env var

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> "SageMakerSettings":
        """Executor config first, then ``ML_PLATFORM_SAGEMAKER_*`` / ``ML_PLATFORM_AWS_REGION`` env vars."""

        def pick(key: str, env_name: str) -> str | None:
            return config.get(key) or _env(env_name)  # type: ignore[return-value]

        required = {
            "image_uri": "ML_PLATFORM_SAGEMAKER_IMAGE",
            "role_arn": "ML_PLATFORM_SAGEMAKER_ROLE_ARN",
            "region": "ML_PLATFORM_AWS_REGION",
        }
        values = {key: pick(key, env_name) for key, env_name in required.items()}
        missing = [f"{key} (env {required[key]})" for key, value in values.items() if not value]
        env_vars = (*cls.env_vars, *_split(_env("ML_PLATFORM_SAGEMAKER_ENV_VARS")), *(config.get("env_vars") or ()))
        missing += [f"env {name}" for name in _missing_settings(env_vars)]
        if missing:
            raise dg.DagsterInvalidConfigError(
                f"SageMaker backend: missing {', '.join(missing)} in the run worker: set them in the Helm values"
                " (dagster-user-deployments env, see docs/operations.md) or the executor's 'sagemaker' config",
                [],
                None,
            )
        return cls(
            **values,  # type: ignore[arg-type]
            subnets=_split(pick("subnets", "ML_PLATFORM_SAGEMAKER_SUBNETS")),
            security_group_ids=_split(pick("security_group_ids", "ML_PLATFORM_SAGEMAKER_SECURITY_GROUPS")),
            endpoint_url=pick("endpoint_url", "ML_PLATFORM_SAGEMAKER_ENDPOINT_URL"),
            env_vars=env_vars,
            # the deployment's secrets, plus a run's own: a run cannot drop the database password by adding one
            secret_arns=tuple(dict.fromkeys((*_split(_env("ML_PLATFORM_SAGEMAKER_SECRET_ARNS")), *(config.get("secret_arns") or ())))),
        )

    def job_env(self) -> dict[str, str]:
        """The plaintext env every job gets (before the step's own variables)."""
        env = {"AWS_DEFAULT_REGION": self.region}
        for item in self.env_vars:
            name, sep, value = item.partition("=")
            if sep:
                env[name] = value
            elif name in os.environ:
                env[name] = os.environ[name]
        return {**env, **secret_arn_env(list(self.secret_arns))}


def _missing_settings(env_vars: tuple[str, ...]) -> list[str]:
    """Required step settings neither in the run worker's env nor given as NAME=value; the warehouse
    and model-store settings only matter to a production step."""
    given = {item.partition("=")[0] for item in env_vars if "=" in item} | set(os.environ)
    production = os.environ.get("ML_PLATFORM_ENV") == "production"
    required = [n for n in REQUIRED_STEP_SETTINGS if production or not n.startswith("ML_PLATFORM_")]
    return [name for name in required if name not in given]


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())

@dataclass(frozen=True)
class SageMakerOptions:
    """A SageMaker profile's own fields (``ComputeProfile.options``): the Processing Job's cluster."""

    instance_type: str | None = None  # required
    instance_count: int = 1
    volume_gb: int = 30


@dataclass(frozen=True)
class InstanceHours:
    """The sheet's USD per instance-hour, by instance type."""

    sheet: SheetReader
    usd: Mapping[str, float]


class InstanceLadder:
    """The instance types of the profile's family; memory comes in their sizes."""

    def problems(self, profile, max_bytes: int, max_text: str | None) -> list[tuple[str, str]]:
        if profile.options.instance_type.rpartition(".")[0] not in FAMILIES:
            return [("memory", f"instance type {profile.options.instance_type} is not in a sized family ({', '.join(FAMILIES)})")]
        return []

    def ceiling(self, profile, max_bytes: int) -> int:
        return max_bytes

    def fit(self, profile, memory_bytes: int) -> int:
        return instance_memory_bytes(self._holding(profile, memory_bytes))

    def next(self, profile, current_bytes: int, ceiling_bytes: int) -> int | None:
        bigger = next_instance(self._holding(profile, current_bytes))
        return instance_memory_bytes(bigger) if bigger and instance_memory_bytes(bigger) <= ceiling_bytes else None

    def sized(self, profile, memory: str):
        instance_type = self._holding(profile, quantity_bytes(memory))
        return replace(profile, memory=memory, options=replace(profile.options, instance_type=instance_type))

    def holder(self, profile, memory_bytes: int) -> str:
        return self._holding(profile, memory_bytes)

    @staticmethod
    def _holding(profile, memory_bytes: int) -> str:
        return smallest_instance_holding(profile.options.instance_type, memory_bytes)


def _optional_string() -> dg.Field:
    return dg.Field(dg.Noneable(dg.StringSource), is_required=False, default_value=None)


def _names(description: str) -> dg.Field:
    return dg.Field([str], is_required=False, default_value=[], description=description)


class SageMakerBackend(Backend):
    name, title, remote = "sagemaker", "SageMaker", True
    options_type = SageMakerOptions
    ladder = InstanceLadder()
    usage_priced = False  # an instance is paid whole, whatever the step used
    failure_reasons = (OOM,)

    def problems(self, profile) -> list[tuple[str, str]]:
        if not profile.options.instance_type:
            return [("options.instance_type", "required for the sagemaker backend")]
        return []

    def sized_tags(self, profile, tags, capacity, env) -> dict[str, str]:
        # The handler reads the decision from DECISION_TAG itself (a job's Environment, not the tags).
        return {**tags, INSTANCE_TYPE_TAG: profile.options.instance_type}

    def describe_size(self, profile) -> str:
        return profile.options.instance_type

    def parse_prices(self, sheet: SheetReader, section: Any) -> "InstanceHours":
        hours = sheet.table(sheet.table(section, self.name).get("instance_hour"), f"{self.name}.instance_hour")
        return InstanceHours(sheet, {t: sheet.price(v, f'{self.name}.instance_hour."{t}"') for t, v in hours.items()})

    def price(self, profile, prices: "InstanceHours", capacity: str) -> StepPrice:
        instance_type, count = profile.options.instance_type, profile.options.instance_count
        if instance_type not in prices.usd:
            raise prices.sheet.fail(f'{self.name}.instance_hour."{instance_type}"', "missing (a profile uses this instance type)")
        each = prices.usd[instance_type]
        return StepPrice(
            round(each * count, 6),
            f"{profile.name}: {instance_type} × {count}",
            f"sagemaker on-demand (Processing has no spot): {count} × {instance_type} × ${each:g}/h",
        )

    def config_field(self) -> dg.Field:
        return dg.Field(
            {
                "image_uri": _optional_string(),
                "role_arn": _optional_string(),
                "region": _optional_string(),
                "subnets": _optional_string(),
                "security_group_ids": _optional_string(),
                "endpoint_url": _optional_string(),
                "env_vars": _names('Extra plaintext env: "NAME=value", or "NAME" to copy the launching process\'s value. No secrets.'),
                "secret_arns": _names("Secrets Manager ARNs read in the job's container with its IAM role; name -> env var."),
            },
            is_required=False,
        )

    def prepare(self, config):
        settings = SageMakerSettings.from_config(config)  # a missing role or image fails the run at start, not mid-way

        def build(context):
            from ml_platform.compute.backends.sagemaker_jobs import SageMakerStepHandler

            return SageMakerStepHandler(settings)

        return build

    def infrastructure_failure(self, handler, context):
        return handler.infrastructure_failure(context)

    def attempt_times(self, handler, context):
        return handler.attempt_times(context)


SAGEMAKER = SageMakerBackend()
