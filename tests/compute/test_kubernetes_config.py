"""Every asset's step Job, built the way dagster-k8s builds it, is a valid Kubernetes manifest."""

import json

import kubernetes
import kubernetes_validate
import pytest
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

from ml_platform.compute.backends.kubernetes import GPU_RESOURCE, NODE_POOL_LABEL, SAFE_TO_EVICT
from ml_platform.compute.profiles import BACKEND_TAG, K8S_CONFIG_TAG, KUBERNETES, PROFILES
from ml_platform.definitions import build_definitions

K8S_VERSION = "1.32"
BIG_POOLS = {"highmem", "gpu"}


def _asset_step_tags():
    graph = build_definitions("local").resolve_asset_graph()
    return {node.key.to_user_string(): dict(node.assets_def.node_def.tags) for node in graph.asset_nodes}


def _step_job(step_tags: dict[str, str]) -> dict:
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image="registry.example.com/ml-platform:1.0", dagster_home="/opt/dagster/dagster_home"),
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-0123456789abcdef",
        pod_name="dagster-step-0123456789abcdef",
        component="step_worker",
        user_defined_k8s_config=get_user_defined_k8s_config(step_tags),
        env_vars=[{"name": "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS", "value": "eJy..."}],
    )
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


ASSET_TAGS = _asset_step_tags()
K8S_ASSETS = sorted(name for name, tags in ASSET_TAGS.items() if tags[BACKEND_TAG] == KUBERNETES)


def test_example_catalog_has_kubernetes_assets():
    assert len(K8S_ASSETS) >= 5


@pytest.mark.parametrize("asset", K8S_ASSETS)
def test_every_kubernetes_asset_step_job_validates_strictly(asset):
    manifest = _step_job(ASSET_TAGS[asset])
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)  # raises on any unknown or invalid field
    pod = manifest["spec"]["template"]["spec"]
    profile = PROFILES[ASSET_TAGS[asset]["ml_platform/compute"]]
    assert pod["nodeSelector"] == {NODE_POOL_LABEL: profile.options.node_pool}
    assert pod["containers"][0]["resources"]["requests"]["memory"] == profile.memory
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", [n for n, p in PROFILES.items() if p.backend == KUBERNETES])
def test_every_kubernetes_profile_step_job_validates_strictly(name):
    manifest = _step_job(PROFILES[name].op_tags())
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_only_non_evictable_profiles_block_autoscaler_eviction():
    for profile in PROFILES.values():
        if profile.backend != KUBERNETES:
            continue
        annotations = _step_job(profile.op_tags())["spec"]["template"]["metadata"].get("annotations") or {}
        assert (annotations.get(SAFE_TO_EVICT) == "false") == (not profile.options.evictable), profile.name


def test_gpu_profile_requests_and_limits_gpus_and_tolerates_gpu_nodes():
    manifest = _step_job(PROFILES["gpu"].op_tags())
    pod = manifest["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["requests"][GPU_RESOURCE] == resources["limits"][GPU_RESOURCE] == "1"
    assert {t["key"] for t in pod["tolerations"]} == {NODE_POOL_LABEL, GPU_RESOURCE}


def test_small_profile_never_tolerates_a_big_node_pool():
    pod = _step_job(PROFILES["small"].op_tags())["spec"]["template"]["spec"]
    assert pod["nodeSelector"][NODE_POOL_LABEL] not in BIG_POOLS
    assert not [t for t in pod.get("tolerations") or [] if t.get("value") in BIG_POOLS]


def test_max_runtime_becomes_the_job_deadline():
    manifest = _step_job(PROFILES["training"].op_tags())
    assert manifest["spec"]["activeDeadlineSeconds"] == 8 * 3600


def test_k8s_tag_is_json_that_dagster_k8s_parses():
    tags = PROFILES["large"].op_tags()
    parsed = get_user_defined_k8s_config(tags)
    assert parsed.container_config["resources"]["limits"]["memory"] == "16Gi"
    assert json.loads(tags[K8S_CONFIG_TAG])["job_spec_config"]["backoff_limit"] == 0


def test_the_executor_kubernetes_section_takes_every_key_dagster_k8s_takes():
    from ml_platform.compute.backends.kubernetes import KUBERNETES, k8s_executor_config_schema

    schema = k8s_executor_config_schema()
    assert set(DagsterK8sJobConfig.config_type_job()) | {"job_namespace", "load_incluster_config", "kubeconfig_file"} <= set(schema)
    keys = {"service_account_name": "ml-platform-steps", "labels": {"team": "platform"}, "image_pull_policy": "Always",
            "env_config_maps": ["ml-platform-step-config"], "job_namespace": "ml-platform"}
    assert callable(KUBERNETES.prepare(keys))  # checked at run start against dagster-k8s's schema


def test_a_misspelt_kubernetes_key_fails_the_run_at_start_naming_the_key():
    import dagster as dg

    from ml_platform.compute.backends.kubernetes import KUBERNETES

    with pytest.raises(dg.DagsterInvalidConfigError, match="routing executor config 'kubernetes' is not valid") as error:
        KUBERNETES.prepare({"service_acount_name": "ml-platform-steps"})
    assert "service_acount_name" in str(error.value)
