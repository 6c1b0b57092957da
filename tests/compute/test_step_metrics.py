"""Step metrics wrap each asset's compute function at assembly without changing the asset."""

import dagster as dg

from ml_platform.compute.step_metrics import DURATION_KEY, PEAK_MEMORY_KEY, with_step_metrics


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
    metadata = result.asset_materializations_for_node("scaled")[0].metadata
    assert metadata[PEAK_MEMORY_KEY].value > 0 and metadata[DURATION_KEY].value >= 0


def test_unwrapped_original_still_runs_without_metrics():
    result = dg.materialize([numbers, scaled])
    assert PEAK_MEMORY_KEY not in result.asset_materializations_for_node("scaled")[0].metadata
