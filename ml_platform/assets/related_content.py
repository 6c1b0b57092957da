"""Related content: top-k similar articles per article, read by the content-similarity service."""

import dagster as dg
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel

from ml_platform.declaration import SLO, AutoMemory, Expectations, FeatureTable, PredictionTable
from ml_platform.resources.synthetic import SyntheticData

PRODUCT = "related_content"
OWNER = "team:content"
TOP_K = 10
# The similarity service reloads at 06:00 Tokyo; article recommendations read this table too.
DEADLINE = SLO("0 6 * * *", timezone="Asia/Tokyo")

ARTICLE_TEXTS = FeatureTable(
    name="article_texts",
    product=PRODUCT,
    owner=OWNER,
    description="The article catalog with each article's text, as of the partition date.",
    slo=DEADLINE,
    compute="small",
    expectations=Expectations(key_columns=("article_id",)),
)

RELATED_ARTICLES = PredictionTable(
    name="related_articles",
    product=PRODUCT,
    owner=OWNER,
    description=f"Top-{TOP_K} most similar articles per article (TF-IDF cosine similarity).",
    slo=DEADLINE,
    # 4 CPUs of 'large'; memory follows the step's recorded peaks, between 1Gi and the profile's 16Gi.
    compute="large",
    memory=AutoMemory(min="1Gi"),
    alert_channel="#content-similarity-alerts",
    expectations=Expectations(
        key_columns=("article_id", "related_article_id"), score_column="score", score_range=(0.0, 1.0), top_k=TOP_K
    ),
)


@dg.asset(**ARTICLE_TEXTS.asset_kwargs())
def article_texts(context: dg.AssetExecutionContext, synthetic: SyntheticData) -> pd.DataFrame:
    return synthetic.articles(context.partition_time_window.start.date())


@dg.asset(**RELATED_ARTICLES.asset_kwargs())
def related_articles(article_texts: pd.DataFrame) -> pd.DataFrame:
    tfidf = TfidfVectorizer(sublinear_tf=True).fit_transform(article_texts["text"])
    similarity = linear_kernel(tfidf)  # rows are L2-normalised: cosine similarity in [0, 1]
    np.fill_diagonal(similarity, -1.0)
    k = min(TOP_K, len(article_texts) - 1)
    top = np.argsort(-similarity, axis=1)[:, :k]
    ids = article_texts["article_id"].to_numpy()
    return pd.DataFrame(
        {
            "date": article_texts["date"].iloc[0],
            "article_id": np.repeat(ids, k),
            "related_article_id": ids[top].ravel(),
            "rank": np.tile(np.arange(1, k + 1), len(ids)),
            "score": np.clip(np.take_along_axis(similarity, top, axis=1).ravel(), 0.0, 1.0),
        }
    )
