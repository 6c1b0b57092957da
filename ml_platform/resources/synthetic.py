"""Deterministic synthetic source data for the example products (nothing is downloaded).

Each day's data depends only on (seed, date, sizes), so reruns and backfills reproduce the
same partitions. Users prefer two of ``n_topics`` topics; articles belong to one topic and
their text is drawn from that topic's vocabulary, so content similarity, collaborative
filtering and propensity all have real signal to find.
"""

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd


class SyntheticData(dg.ConfigurableResource):
    """Sizes of the generated example data. Defaults keep the main job well under a minute."""

    n_users: int = 2000
    n_articles: int = 400
    n_topics: int = 12
    clicks_per_active_user: int = 6
    seed: int = 7

    def _rng(self, day: date | None, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, day.toordinal() if day else 0, stream])

    def user_topics(self) -> np.ndarray:
        """(n_users, 2): each user's two favourite topics; fixed over time."""
        return self._rng(None, 1).integers(0, self.n_topics, size=(self.n_users, 2))

    def articles(self, day: date) -> pd.DataFrame:
        """The article catalog on ``day``: id, topic, text."""
        rng = self._rng(None, 2)
        topics = np.arange(self.n_articles) % self.n_topics
        texts = []
        for topic in topics:
            own = rng.integers(0, 40, size=25)
            common = rng.integers(0, 200, size=15)
            words = [f"topic{topic}term{w}" for w in own] + [f"word{w}" for w in common]
            texts.append(" ".join(rng.permutation(words)))
        return pd.DataFrame(
            {
                "date": pd.Timestamp(day),
                "article_id": np.arange(self.n_articles, dtype="int64"),
                "topic": topics.astype("int64"),
                "text": texts,
            }
        )

    def interactions(self, day: date) -> pd.DataFrame:
        """Clicks of active users on ``day``: mostly articles of their favourite topics."""
        rng = self._rng(day, 3)
        favourites = self.user_topics()
        active = np.flatnonzero(rng.random(self.n_users) < 0.6)
        n = self.clicks_per_active_user
        users = np.repeat(active, n)
        on_topic = rng.random(users.size) < 0.8
        topic = np.where(on_topic, favourites[users, rng.integers(0, 2, users.size)], rng.integers(0, self.n_topics, users.size))
        per_topic = int(np.ceil(self.n_articles / self.n_topics))
        article = topic + self.n_topics * rng.integers(0, per_topic, users.size)
        article = np.where(article < self.n_articles, article, topic)
        frame = pd.DataFrame({"user_id": users.astype("int64"), "article_id": article.astype("int64")})
        frame = frame.groupby(["user_id", "article_id"], as_index=False).size().rename(columns={"size": "clicks"})
        frame.insert(0, "date", pd.Timestamp(day))
        return frame

    def user_features(self, day: date) -> pd.DataFrame:
        """Per-user behaviour features on ``day``."""
        base = self._rng(None, 4)
        tenure0 = base.integers(1, 1500, self.n_users)
        engagement = base.gamma(2.0, 1.5, self.n_users)
        rng = self._rng(day, 5)
        return pd.DataFrame(
            {
                "date": pd.Timestamp(day),
                "user_id": np.arange(self.n_users, dtype="int64"),
                "tenure_days": tenure0 + (day.toordinal() % 1000),
                "sessions_7d": rng.poisson(engagement * 3),
                "articles_read_7d": rng.poisson(engagement * 8),
                "days_since_last_visit": rng.geometric(1 / (1 + 4 / engagement)) - 1,
                "is_subscriber": (base.random(self.n_users) < 0.2).astype("int64"),
            }
        )

    def conversions(self, features: pd.DataFrame) -> np.ndarray:
        """Synthetic outcome (converted or not) from a hidden logistic model of the features."""
        logit = (
            -2.0
            + 0.25 * features["sessions_7d"].to_numpy()
            + 0.05 * features["articles_read_7d"].to_numpy()
            - 0.30 * features["days_since_last_visit"].to_numpy()
            + 1.0 * features["is_subscriber"].to_numpy()
        )
        rng = np.random.default_rng([self.seed, len(features), 6])
        return (rng.random(len(features)) < 1 / (1 + np.exp(-logit))).astype("int64")
