"""In the local environment every step runs in its own local process, whatever its profile."""

import dagster as dg

from ml_platform.compute.routing_executor import executor_for_env
from ml_platform.compute.step_metrics import DURATION_KEY, PEAK_MEMORY_KEY
from ml_platform.definitions import build_definitions
from tests.compute.helpers import reconstructable_job, worker_messages


def test_local_env_runs_every_profile_in_a_local_process(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(reconstructable_job("local_defs"), instance=instance)
        assert result.success
        messages = worker_messages(instance, result.run_id)
        assert set(messages) == {"light_counts", "k8s_scores", "sagemaker_model"}
        assert all("in local process" in m for m in messages.values())


def test_every_materialization_records_peak_memory_and_duration(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(reconstructable_job("local_defs"), instance=instance)
        for name in ("light_counts", "k8s_scores", "sagemaker_model"):
            metadata = instance.get_latest_materialization_event(dg.AssetKey(name)).asset_materialization.metadata
            assert metadata[PEAK_MEMORY_KEY].value > 20  # a Python process with Dagster loaded
            assert metadata[DURATION_KEY].value >= 0
        assert result.success


def test_code_location_default_executor_is_chosen_by_environment():
    assert build_definitions("local").resolve_job_def("__ASSET_JOB").executor_def.name == "ml_platform_routing_local"
    production = executor_for_env("production")
    assert production.name == "ml_platform_routing_production"
