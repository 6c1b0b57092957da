"""Step metrics wrap each asset's compute function at assembly without changing the asset."""

import dagster as dg
import pytest

from ml_platform.compute.step_metrics import DURATION_KEY, PEAK_MEMORY_KEY, with_step_metrics
from ml_platform.compute.step_usage import FAILED, OUTCOME_KEY, SUCCEEDED


class Factor(dg.Config):
    factor: int = 2


@dg.asset
def numbers() -> list[int]:
    return [1, 2, 3]


@dg.asset(op_tags={"team": "recs"}, retry_policy=dg.RetryPolicy(max_retries=1))
def scaled(context: dg.AssetExecutionContext, config: Factor, numbers: list[int]) -> list[int]:
    return [n * config.factor for n in numbers]


def test_wrapped_asset_keeps_inputs_config_tags_and_output_and_records_metrics():
    wrapped = {a.key: a for a in with_step_metrics([numbers, scaled])}
    op = wrapped[scaled.key].op
    assert [d.name for d in op.input_defs] == [d.name for d in scaled.op.input_defs]
    assert op.tags == scaled.op.tags and op.retry_policy == scaled.op.retry_policy
    assert op.compute_fn is not scaled.op.compute_fn and scaled.op.compute_fn.decorated_fn.__name__ == "scaled"

    result = dg.materialize(
        list(wrapped.values()), run_config={"ops": {"scaled": {"config": {"factor": 3}}}}
    )
    assert result.output_for_node("scaled") == [3, 6, 9]
    (observation,) = result.asset_observations_for_node("scaled")  # the attempt record, after the output was written
    metadata = observation.metadata
    assert metadata[PEAK_MEMORY_KEY].value > 0 and metadata[DURATION_KEY].value >= 0
    assert metadata[OUTCOME_KEY].value == SUCCEEDED and observation.asset_key == scaled.key


def test_unwrapped_original_still_runs_without_metrics():
    result = dg.materialize([numbers, scaled])
    assert not result.asset_observations_for_node("scaled")


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a"]))
def broken() -> int:
    raise ValueError("bad input")


def test_a_failing_attempt_is_recorded_before_the_error_propagates():
    with dg.instance_for_test() as instance:
        result = dg.materialize(with_step_metrics([broken]), instance=instance, partition_key="a", raise_on_error=False)
        assert not result.success
        (record,) = instance.fetch_observations(broken.key, limit=5).records
    assert record.asset_observation.metadata[OUTCOME_KEY].value == FAILED and record.partition_key == "a"
    with pytest.raises(ValueError, match="bad input"):
        dg.materialize(with_step_metrics([broken]), partition_key="a")
