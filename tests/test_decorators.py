from datetime import timedelta

import dagster as dg
import pytest

from ml_platform.declaration import (
    PRODUCT_TAG,
    SLO,
    DeclarationError,
    Expectations,
    Model,
    PredictionTable,
    declaration_of,
)
from ml_platform.decorators import Product, feature_table, model, prediction_table

RECS = Product("recs", owner="team:recs", timezone="Asia/Tokyo")
KEYS = Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0))


def spec_of(asset: dg.AssetsDefinition) -> dg.AssetSpec:
    return asset.get_asset_spec()


def test_decorator_names_the_asset_after_the_function_and_carries_the_same_declaration_as_asset_kwargs():
    @prediction_table(RECS, slo=RECS.slo("0 8 * * *", warn_margin=timedelta(minutes=30)), expectations=KEYS)
    def article_recs():
        return None

    longhand = PredictionTable(
        name="article_recs", product="recs", owner="team:recs", compute="small", expectations=KEYS,
        slo=SLO("0 8 * * *", timezone="Asia/Tokyo", warn_margin=timedelta(minutes=30)),
    )

    @dg.asset(**longhand.asset_kwargs())
    def article_recs_longhand():
        return None

    assert article_recs.key == dg.AssetKey("article_recs")
    assert declaration_of(article_recs) == longhand
    short, long = spec_of(article_recs), spec_of(article_recs_longhand)
    for attribute in ("group_name", "owners", "tags", "metadata", "freshness_policy", "partitions_def", "kinds"):
        assert getattr(short, attribute) == getattr(long, attribute), attribute
    assert article_recs.op.tags == article_recs_longhand.op.tags


def test_a_cron_string_is_a_deadline_in_the_product_time_zone_and_arguments_override_product_defaults():
    @feature_table(RECS, slo="0 6 * * *", expectations=Expectations(key_columns=("user_id",)), owner="ana@example.com")
    def clicks():
        return None

    @model(RECS, slo=RECS.slo("0 6 * * 1", window=timedelta(days=7)), compute="training", alert_channel="#recs")
    def recs_model():
        return None

    features, trained = declaration_of(clicks), declaration_of(recs_model)
    assert features.slo == SLO("0 6 * * *", timezone="Asia/Tokyo")
    assert (features.owner, features.compute, features.alert_channel) == ("ana@example.com", "small", None)
    assert (trained.owner, trained.compute, trained.alert_channel) == ("team:recs", "training", "#recs")
    assert isinstance(trained, Model) and recs_model.partitions_def is None
    assert features.partitions_def.timezone == "Asia/Tokyo"


def test_extra_asset_arguments_are_merged_with_the_declaration():
    @prediction_table(
        RECS, slo="0 8 * * *", expectations=KEYS, deps=["upstream"], code_version="7",
        tags={"team": "recs"}, metadata={"dashboard": "https://example.com/recs"}, op_tags={"trace": "on"},
        owners=["ana@example.com"], kinds={"sql"},
    )
    def scored():
        return None

    spec = spec_of(scored)
    assert spec.tags["team"] == "recs" and spec.tags[PRODUCT_TAG] == "recs"
    assert spec.metadata["dashboard"] == "https://example.com/recs" and declaration_of(scored).name == "scored"
    assert scored.op.tags["trace"] == "on" and scored.op.tags["ml_platform/compute"] == "small"
    assert list(spec.owners) == ["team:recs", "ana@example.com"]
    assert {"sql", "pandas"} <= set(spec.kinds)
    assert spec.code_version == "7"
    assert {d.asset_key for d in spec.deps} == {dg.AssetKey("upstream")}


def test_asset_kwargs_merge_user_tags_instead_of_a_duplicate_keyword_error():
    table = PredictionTable(name="t", product="p", owner="team:p", slo=SLO("0 8 * * *"), compute="small", expectations=KEYS)

    @dg.asset(**table.asset_kwargs(tags={"tier": "gold"}, metadata={"note": "x"}, op_tags={"trace": "on"}))
    def t():
        return None

    assert spec_of(t).tags["tier"] == "gold" and spec_of(t).tags[PRODUCT_TAG] == "p"
    assert declaration_of(t) == table


@pytest.mark.parametrize(
    "arguments, field, words",
    [
        (dict(tags={PRODUCT_TAG: "other"}), f"tags['{PRODUCT_TAG}']", "set by the declaration"),
        (dict(freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=1))), "freshness_policy", "'slo'"),
        (dict(group_name="elsewhere"), "group_name", "'product'"),
        (dict(name="other_name"), "name", "function name"),
    ],
)
def test_an_argument_contradicting_the_declaration_fails_naming_asset_and_field(arguments, field, words):
    with pytest.raises(DeclarationError) as error:

        @prediction_table(RECS, slo="0 8 * * *", expectations=KEYS, **arguments)
        def scored():
            return None

    assert str(error.value).startswith(f"prediction table 'scored': field '{field}': ")
    assert words in str(error.value)


def test_a_bad_declaration_names_the_function():
    with pytest.raises(DeclarationError, match="^prediction table 'scored': field 'compute': unknown compute profile 'huge'"):

        @prediction_table(RECS, slo="0 8 * * *", expectations=KEYS, compute="huge")
        def scored():
            return None
