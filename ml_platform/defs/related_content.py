"""Related content: top-k similar articles per article, read by the content-similarity service."""

import dagster as dg
import numpy as np
import pandas as pd

from ml_platform.declaration import AutoMemory, Expectations
from ml_platform.decorators import Product, feature_table, prediction_table
from ml_platform.monitoring.settings import Monitoring
from ml_platform.resources.synthetic import SyntheticData

CONTENT = Product("related_content", owner="team:content", timezone="Asia/Tokyo")
TOP_K = 10
# The similarity service reloads at 06:00 Tokyo; article recommendations read this table too.
DEADLINE = "0 6 * * *"


@feature_table(
    CONTENT, slo=DEADLINE, expectations=Expectations(key_columns=("article_id",)),
    description="The article catalog with each article's text, as of the partition date.",
)
def article_texts(context: dg.AssetExecutionContext, synthetic: SyntheticData) -> pd.DataFrame:
    return synthetic.articles(context.partition_time_window.start.date())


@prediction_table(
    CONTENT, slo=DEADLINE, compute="large", alert_channel="#content-similarity-alerts",
    # 4 CPUs of 'large'; memory follows the step's recorded peaks, between 1Gi and the profile's 16Gi.
    memory=AutoMemory(min="1Gi"),
    expectations=Expectations(
        key_columns=("article_id", "related_article_id"), score_column="score", score_range=(0.0, 1.0), top_k=TOP_K
    ),
    monitoring=Monitoring(expected_entities="article_texts"),  # coverage: every article of the catalog gets related ones
    description=f"Top-{TOP_K} most similar articles per article (TF-IDF cosine similarity).",
)
def related_articles(article_texts: pd.DataFrame) -> pd.DataFrame:
    from sklearn.feature_extraction.text import TfidfVectorizer  # imported where used: loading stays fast
    from sklearn.metrics.pairwise import linear_kernel

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
