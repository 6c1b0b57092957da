"""Article recommendations: a weekly collaborative-filtering model, daily top-k articles per user.

Crosses products: today's recommendations are boosted by the related_content product's
``related_articles`` table (articles similar to what the user read today).
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from ml_platform.declaration import Expectations
from ml_platform.decorators import Product, feature_table, model, prediction_table
from ml_platform.monitoring.settings import Monitoring
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.window_reads import training_window

RECS = Product("article_recs", owner="team:recs", timezone="Asia/Tokyo")
TOP_K = 10
RELATED_BOOST = 0.3  # weight of content similarity to today's reads in the final score
TRAINING_WINDOW = timedelta(days=28)  # the training read: this many days of clicks, never the whole history


@dataclass
class FactorModel:
    user_ids: np.ndarray
    article_ids: np.ndarray
    user_factors: np.ndarray
    article_factors: np.ndarray


@feature_table(
    RECS, slo="0 6 * * *", expectations=Expectations(key_columns=("user_id", "article_id")),
    description="Clicks per user and article on the partition date.",
)
def user_article_interactions(context: dg.AssetExecutionContext, synthetic: SyntheticData) -> pd.DataFrame:
    return synthetic.interactions(context.partition_time_window.start.date())


@model(
    RECS, slo=RECS.slo("0 6 * * 1", window=timedelta(days=7)), compute="gpu", retries=1,
    deps=["user_article_interactions"], metadata={"ml_platform/training_window_days": TRAINING_WINDOW.days},
    description="Truncated-SVD factorisation of the user x article click matrix, retrained weekly on the last 28 days.",
)
def article_recs_model(context: dg.AssetExecutionContext, window_reader: dg.ResourceParam[Any]) -> FactorModel:
    """Trains on the ``TRAINING_WINDOW`` of interaction partitions up to the newest one, read in one query."""
    from scipy.sparse import csr_matrix  # imported where used: loading the code location stays fast
    from sklearn.decomposition import TruncatedSVD

    first, newest, user_article_interactions = training_window(
        context, window_reader, dg.AssetKey("user_article_interactions"), TRAINING_WINDOW.days
    )

    users, user_index = np.unique(user_article_interactions["user_id"], return_inverse=True)
    articles, article_index = np.unique(user_article_interactions["article_id"], return_inverse=True)
    clicks = csr_matrix(
        (np.log1p(user_article_interactions["clicks"].to_numpy(float)), (user_index, article_index)),
        shape=(len(users), len(articles)),
    )
    svd = TruncatedSVD(n_components=min(16, len(articles) - 1), random_state=0)
    user_factors = svd.fit_transform(clicks)
    context.add_output_metadata(
        {
            "training_rows": len(user_article_interactions),
            "training_window": f"{first}..{newest}",
            "users": len(users),
            "articles": len(articles),
            "explained_variance": float(svd.explained_variance_ratio_.sum()),
        }
    )
    return FactorModel(users, articles, user_factors, svd.components_.T)


@prediction_table(
    RECS, slo=RECS.slo("0 8 * * *", warn_margin=timedelta(minutes=30)),
    expectations=Expectations(
        key_columns=("user_id", "article_id"), score_column="score", score_range=(0.0, 1.0), top_k=TOP_K
    ),
    monitoring=Monitoring(expected_entities="user_article_interactions"),  # coverage: today's active users get a list
    description=f"Top-{TOP_K} articles per active user, read by the home-feed service at 08:00 Tokyo.",
)
def article_recommendations(
    user_article_interactions: pd.DataFrame, article_recs_model: FactorModel, related_articles: pd.DataFrame
) -> pd.DataFrame:
    from scipy.sparse import csr_matrix

    model = article_recs_model
    today = user_article_interactions[user_article_interactions["user_id"].isin(model.user_ids)]
    users = np.unique(today["user_id"])
    user_rows = np.searchsorted(model.user_ids, users)
    scores = model.user_factors[user_rows] @ model.article_factors.T
    low, high = scores.min(axis=1, keepdims=True), scores.max(axis=1, keepdims=True)
    scores = (scores - low) / np.where(high > low, high - low, 1.0)

    # Boost articles similar to what each user read today (from the related_content product).
    # Articles published since the weekly model was trained have no factors: they are left out.
    known = today[today["article_id"].isin(model.article_ids)]
    read = known.assign(u=np.searchsorted(users, known["user_id"]), a=np.searchsorted(model.article_ids, known["article_id"]))
    related = related_articles[related_articles["article_id"].isin(model.article_ids)]
    related = related[related["related_article_id"].isin(model.article_ids)]
    similarity = csr_matrix(
        (
            related["score"].to_numpy(float),
            (np.searchsorted(model.article_ids, related["article_id"]), np.searchsorted(model.article_ids, related["related_article_id"])),
        ),
        shape=(len(model.article_ids),) * 2,
    )
    reads = csr_matrix((np.ones(len(read)), (read["u"], read["a"])), shape=scores.shape)
    boost = (reads @ similarity).toarray()
    boost /= np.maximum(boost.max(axis=1, keepdims=True), 1e-12)
    scores = (1 - RELATED_BOOST) * scores + RELATED_BOOST * boost
    scores[read["u"].to_numpy(), read["a"].to_numpy()] = -1.0  # never recommend what was just read

    k = min(TOP_K, len(model.article_ids))
    top = np.argsort(-scores, axis=1)[:, :k]
    return pd.DataFrame(
        {
            "date": user_article_interactions["date"].iloc[0],
            "user_id": np.repeat(users, k),
            "article_id": model.article_ids[top].ravel(),
            "rank": np.tile(np.arange(1, k + 1), len(users)),
            "score": np.clip(np.take_along_axis(scores, top, axis=1).ravel(), 0.0, 1.0),
        }
    )
