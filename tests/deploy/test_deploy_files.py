"""deploy/ agrees with itself, with the docs and with the official Dagster chart's value names."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())
VALUES = yaml.safe_load((ROOT / "deploy/helm/values.yaml").read_text())
POOL_JOB = yaml.safe_load((ROOT / "deploy/k8s/pool-limits-job.yaml").read_text())
OPERATIONS = (ROOT / "docs/operations.md").read_text()
NAMESPACE = "ml-platform"

# deploy/dagster.yaml setting -> the official chart's key for it (helm/dagster templates).
CHART_KEYS = {
    "storage.postgres.postgres_db.scheme": "postgresql.postgresqlScheme",
    "concurrency.runs.max_concurrent_runs": "concurrency.runs.maxConcurrentRuns",
    "concurrency.pools.default_limit": "concurrency.pools.defaultLimit",
    "concurrency.pools.granularity": "concurrency.pools.granularity",
    "run_monitoring.enabled": "dagsterDaemon.runMonitoring.enabled",
    "run_monitoring.start_timeout_seconds": "dagsterDaemon.runMonitoring.startTimeoutSeconds",
    "run_monitoring.cancel_timeout_seconds": "dagsterDaemon.runMonitoring.cancelTimeoutSeconds",
    "run_monitoring.max_runtime_seconds": "dagsterDaemon.runMonitoring.maxRuntimeSeconds",
    "run_monitoring.poll_interval_seconds": "dagsterDaemon.runMonitoring.pollIntervalSeconds",
    "run_retries.enabled": "dagsterDaemon.runRetries.enabled",
    "run_retries.max_retries": "dagsterDaemon.runRetries.maxRetries",
    "run_retries.retry_on_asset_or_op_failure": "dagsterDaemon.runRetries.retryOnAssetOrOpFailure",
    "schedules.use_threads": "dagsterDaemon.schedules.useThreads",
    "schedules.num_workers": "dagsterDaemon.schedules.numWorkers",
    "sensors.use_threads": "dagsterDaemon.sensors.useThreads",
    "sensors.num_workers": "dagsterDaemon.sensors.numWorkers",
    "retention.schedule.purge_after_days": "retention.schedule.purgeAfterDays",
    "run_coordinator.config.dequeue_interval_seconds": "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueIntervalSeconds",
    "run_coordinator.config.dequeue_use_threads": "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueUseThreads",
    "run_coordinator.config.dequeue_num_workers": "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueNumWorkers",
    "telemetry.enabled": "telemetry.enabled",
    "backfills.use_threads": "dagsterDaemon.backfills.useThreads",
    "backfills.num_workers": "dagsterDaemon.backfills.numWorkers",
    "nux": "additionalInstanceConfig.nux",
}


def at(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def leaves(tree: dict, prefix: str = "") -> list[str]:
    return [path for key, value in tree.items()
            for path in (leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"])]


@pytest.mark.parametrize("setting", sorted(CHART_KEYS))
def test_instance_setting_is_carried_into_the_chart_values(setting):
    assert at(VALUES, CHART_KEYS[setting]) == at(INSTANCE, setting)


def test_every_production_setting_has_a_chart_key():
    mapped = set(CHART_KEYS) | {"storage", "run_coordinator", "concurrency.runs.tag_concurrency_limits",
                                "retention.sensor.purge_after_days"}
    unmapped = [p for p in leaves(INSTANCE) if not any(p == m or p.startswith(m + ".") for m in mapped)]
    assert unmapped == []


def test_run_queue_and_sensor_retention_match():
    limits = at(VALUES, "concurrency.runs.tagConcurrencyLimits")
    assert limits == [{**limit, "value": {"applyLimitPerUniqueValue": True}} for limit in INSTANCE["concurrency"]["runs"]["tag_concurrency_limits"]]
    chart = at(VALUES, "retention.sensor.purgeAfterDays")
    assert {k: chart[k] for k in INSTANCE["retention"]["sensor"]["purge_after_days"]} == INSTANCE["retention"]["sensor"]["purge_after_days"]
    assert VALUES["dagsterDaemon"]["runCoordinator"]["type"] == INSTANCE["run_coordinator"]["class"]


def test_values_use_the_official_chart_key_names():
    schema = json.loads((Path(__file__).parent / "dagster_chart_values.schema.json").read_text())
    jsonschema.validate(VALUES, schema)
    misspelled = {**VALUES, "dagsterDaemon": {**VALUES["dagsterDaemon"], "runRetry": {"enabled": True}}}
    with pytest.raises(jsonschema.ValidationError, match="runRetry"):
        jsonschema.validate(misspelled, schema)


def test_one_namespace_everywhere():
    assert VALUES["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"] == NAMESPACE
    assert POOL_JOB["metadata"]["namespace"] == NAMESPACE
    assert set(re.findall(r"(?:--namespace|-n) (\S+)", OPERATIONS)) == {NAMESPACE}


def test_pool_limits_job_uses_the_chart_instance_and_the_code_image():
    pod = POOL_JOB["spec"]["template"]["spec"]
    image = VALUES["dagster-user-deployments"]["deployments"][0]["image"]
    assert pod["containers"][0]["image"].split(":")[0] == image["repository"]
    configmaps = {v["configMap"]["name"] for v in pod["volumes"]}
    assert "ml-platform-dagster-instance" in configmaps  # the chart's <release>-dagster-instance
    assert "set_pool_limits.sh" in " ".join(pod["containers"][0]["command"])
    assert pod["serviceAccountName"] == VALUES["global"]["serviceAccountName"]
    password = next(e for e in pod["containers"][0]["env"] if e["name"] == "DAGSTER_PG_PASSWORD")  # the chart's instance reads it
    assert password["valueFrom"]["secretKeyRef"] == {"name": "dagster-postgresql-secret", "key": "postgresql-password"}
    assert "deploy/k8s/pool-limits-job.yaml" in OPERATIONS


def documented_env_vars() -> set[str]:
    texts = [p.read_text() for p in [*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("deploy/**/*.yaml")]]
    return {name for text in texts for name in re.findall(r"\bML_PLATFORM_[A-Z0-9_]*[A-Z0-9]\b", text)}


def test_every_documented_env_var_is_read_by_the_code():
    code = "\n".join(p.read_text() for p in (ROOT / "ml_platform").rglob("*.py"))
    unread = sorted(name for name in documented_env_vars() if f'"{name}"' not in code)
    assert unread == []


def test_pool_limits_job_is_a_valid_kubernetes_manifest():
    import kubernetes_validate

    kubernetes_validate.validate(POOL_JOB, "1.32", strict=True)
