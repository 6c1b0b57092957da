"""The short form of a declaration: one decorator per asset kind, named after the function.

    RECS = Product("article_recs", owner="team:recs", timezone="Asia/Tokyo")

    @prediction_table(RECS, slo="0 8 * * *", expectations=Expectations(key_columns=("user_id",)))
    def article_recommendations(user_article_interactions, article_recs_model): ...

is ``@dg.asset(**PredictionTable(name="article_recommendations", product="article_recs",
owner="team:recs", slo=SLO("0 8 * * *", timezone="Asia/Tokyo"), ...).asset_kwargs())``: the same
Dagster asset, carrying the same declaration in its metadata. Arguments that are not declaration
fields go to ``dg.asset`` (deps, ins, code_version, ...); tags, metadata, op_tags, owners and kinds
are merged with what the declaration sets.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ml_platform.declaration import (
    SLO,
    DeclarationError,
    FeatureTable,
    MLAsset,
    Model,
    PredictionTable,
    field_names,
)


@dataclass(frozen=True)
class Product:
    """What every declaration of one product shares; a decorator argument overrides it."""

    name: str
    owner: str  # an email or 'team:<name>'
    timezone: str = "UTC"  # of the deadlines given as a cron string, and of the daily partitions
    compute: str = "small"
    alert_channel: str | None = None

    def slo(self, deadline_cron: str, **options: Any) -> SLO:
        """An SLO in the product's time zone; options: window, warn_margin, start_before."""
        return SLO(deadline_cron, timezone=self.timezone, **options)


def prediction_table(product: Product, *, slo: str | SLO, **arguments: Any) -> Callable[..., dg.AssetsDefinition]:
    """A daily-partitioned table of predictions; needs ``expectations``."""
    return _declare(PredictionTable, product, slo, arguments)


def feature_table(product: Product, *, slo: str | SLO, **arguments: Any) -> Callable[..., dg.AssetsDefinition]:
    """A daily-partitioned input table (features, interactions)."""
    return _declare(FeatureTable, product, slo, arguments)


def model(product: Product, *, slo: str | SLO, **arguments: Any) -> Callable[..., dg.AssetsDefinition]:
    """A trained model, not partitioned, stored by the model IO manager."""
    return _declare(Model, product, slo, arguments)


def _declare(kind: type[MLAsset], product: Product, slo: str | SLO, arguments: dict[str, Any]):
    own = {k: v for k, v in arguments.items() if k in field_names(kind)}
    asset_arguments = {k: v for k, v in arguments.items() if k not in own}

    def decorate(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        if "name" in own or "product" in own:
            wrong = "name" if "name" in own else "product"
            raise DeclarationError(
                f"{kind.LABEL} '{fn.__name__}': field '{wrong}': taken from the function name and the Product"
            )
        declaration = kind(
            name=fn.__name__,
            product=product.name,
            slo=product.slo(slo) if isinstance(slo, str) else slo,
            **{"owner": product.owner, "compute": product.compute, "alert_channel": product.alert_channel, **own},
        )
        return dg.asset(**declaration.asset_kwargs(**asset_arguments))(fn)

    return decorate
