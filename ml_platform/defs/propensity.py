"""Propensity: a weekly conversion classifier, daily scores in [0, 1] per user for the CRM team."""

from datetime import timedelta
from typing import Any

import dagster as dg
import pandas as pd

from ml_platform.declaration import Expectations
from ml_platform.decorators import Product, feature_table, model, prediction_table
from ml_platform.monitoring.settings import Monitoring
from ml_platform.resources.synthetic import SyntheticData
from ml_platform.resources.window_reads import training_window

GROWTH = Product("propensity", owner="team:growth", timezone="Asia/Tokyo")
# A fitted sklearn Pipeline. sklearn is imported inside the functions that use it, so loading the
# code location (every run worker and code server does) does not pay for it.
Classifier = Any
FEATURES = ["tenure_days", "sessions_7d", "articles_read_7d", "days_since_last_visit", "is_subscriber"]
TRAINING_WINDOW = timedelta(days=28)  # the training read: this many days of features, never the whole history


@feature_table(
    GROWTH, slo="0 7 * * *", expectations=Expectations(key_columns=("user_id",)),
    description="Behaviour features per user on the partition date.",
)
def user_features(context: dg.AssetExecutionContext, synthetic: SyntheticData) -> pd.DataFrame:
    return synthetic.user_features(context.partition_time_window.start.date())


@model(
    GROWTH, slo=GROWTH.slo("0 7 * * 1", window=timedelta(days=7)), compute="sagemaker_training", retries=1,
    deps=["user_features"], metadata={"ml_platform/training_window_days": TRAINING_WINDOW.days},
    description="Logistic regression of conversion on behaviour features, retrained weekly on the last 28 days.",
)
def propensity_model(context: dg.AssetExecutionContext, synthetic: SyntheticData, window_reader: dg.ResourceParam[Any]) -> Classifier:
    """Trains on the ``TRAINING_WINDOW`` of feature partitions up to the newest one, read in one query,
    labelled with the observed conversions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    first, newest, user_features = training_window(context, window_reader, dg.AssetKey("user_features"), TRAINING_WINDOW.days)
    user_features = user_features.rename(columns=str.lower)
    labels = synthetic.conversions(user_features)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(user_features[FEATURES], labels)
    context.add_output_metadata(
        {
            "training_rows": len(user_features),
            "training_window": f"{first}..{newest}",
            "positive_rate": float(labels.mean()),
            "train_auc": float(roc_auc_score(labels, model.predict_proba(user_features[FEATURES])[:, 1])),
        }
    )
    return model


@feature_table(
    GROWTH, slo="0 9 * * *",
    expectations=Expectations(key_columns=("user_id",)),
    description="Observed conversions of the users of partition D. In production they land days after D; "
    "their arrival is what the delayed-label sensor turns into propensity_scores' AUC for D.",
)
def propensity_labels(user_features: pd.DataFrame, synthetic: SyntheticData) -> pd.DataFrame:
    return pd.DataFrame(
        {"date": user_features["date"], "user_id": user_features["user_id"], "converted": synthetic.conversions(user_features)}
    )


@prediction_table(
    GROWTH, slo="0 9 * * *",
    expectations=Expectations(key_columns=("user_id",), score_column="score", score_range=(0.0, 1.0)),
    monitoring=Monitoring(
        expected_entities="user_features", label_table="propensity_labels", label_column="converted", metric="auc", metric_floor=0.6
    ),
    description="Probability that each user converts this week, read by the CRM campaign at 09:00 Tokyo.",
)
def propensity_scores(user_features: pd.DataFrame, propensity_model: Classifier) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": user_features["date"],
            "user_id": user_features["user_id"],
            "score": propensity_model.predict_proba(user_features[FEATURES])[:, 1],
        }
    )
