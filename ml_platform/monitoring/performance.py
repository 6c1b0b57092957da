"""Delayed-label performance: the declared metric of one partition's predictions once its labels land.

A fall or a value below the floor alerts only when it is also larger than the metric's sampling
noise allows (``z`` standard errors, from the table's ``significance``): at a few hundred labelled
rows a day an AUC moves by several hundredths from noise alone.
"""

from statistics import NormalDist
from typing import Callable, Sequence

import numpy as np
import pandas as pd


def precision_at_k(labels: np.ndarray, scores: np.ndarray, k: int, groups: np.ndarray | None = None) -> float:
    """Share of positives among the k best-scored rows; with ``groups`` (a top-k table's users),
    per group over its own k best rows, averaged over the groups."""
    if groups is None:
        top = np.argsort(-scores, kind="stable")[:k]
        return float(labels[top].mean()) if top.size else float("nan")
    frame = pd.DataFrame({"group": groups, "score": scores, "label": labels}).sort_values(["group", "score"], ascending=[True, False], kind="stable")
    best = frame[frame.groupby("group", sort=False).cumcount() < k]
    return float(best.groupby("group", sort=False)["label"].mean().mean()) if len(best) else float("nan")


def compute_metric(metric: str | Callable, labels: np.ndarray, scores: np.ndarray, k: int = 10, groups: np.ndarray | None = None) -> float:
    labels, scores = np.asarray(labels, dtype="float64"), np.asarray(scores, dtype="float64")
    if callable(metric):
        return float(metric(labels, scores))
    if metric == "auc":
        from sklearn.metrics import roc_auc_score  # imported when labels land, not when the code location loads

        return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")
    if metric == "precision_at_k":
        return precision_at_k(labels, scores, k, None if groups is None else np.asarray(groups))
    if metric == "ctr":
        return float(labels.mean()) if labels.size else float("nan")
    raise ValueError(f"unknown metric {metric!r} (known: auc, precision_at_k, ctr, or a callable)")


def standard_error(metric: str | Callable, value: float, rows: int, positives: int, lists: int | None = None) -> float | None:
    """Sampling standard error of a metric's value: AUC by Hanley and McNeil (1982), shares as a
    binomial over the rows (or the users' lists); None when unknown (a callable metric)."""
    if callable(metric) or not np.isfinite(value):
        return None
    if metric == "auc":
        negatives = rows - positives
        if positives < 1 or negatives < 1:
            return None
        q1, q2 = value / (2 - value), 2 * value**2 / (1 + value)
        variance = (value * (1 - value) + (positives - 1) * (q1 - value**2) + (negatives - 1) * (q2 - value**2)) / (positives * negatives)
        return float(np.sqrt(max(variance, 0.0)))
    n = lists or rows
    return float(np.sqrt(max(value * (1 - value), 1 / n) / n)) if n else None


def evidence_z(significance: float) -> float:
    """Standard errors a change must exceed to be significant at ``significance`` (one-sided)."""
    return NormalDist().inv_cdf(1 - significance)


def performance_problem(
    history: Sequence[float], floor: float | None, window: int, max_decay: float, errors: Sequence[float | None] | None = None, z: float = 0.0
) -> str | None:
    """Why the newest value of ``history`` (oldest first) alerts, or None when healthy. With
    ``errors`` (standard errors, None when unknown), a change must also exceed ``z`` of them."""
    if not history:
        return None
    errors = list(errors) if errors is not None else [None] * len(history)
    latest, latest_error = history[-1], errors[-1]
    if floor is not None and latest < floor and (latest_error is None or floor - latest > z * latest_error):
        return f"metric {latest:.3f} below floor {floor:.3f}"
    recent, recent_errors = history[-window:], errors[-window:]
    fall = recent[0] - latest
    noise = None if None in (recent_errors[0], latest_error) else z * float(np.hypot(recent_errors[0], latest_error))
    if len(recent) >= window and fall > max_decay and (noise is None or fall > noise):
        return f"metric fell {fall:.3f} over {window} partitions ({recent[0]:.3f} → {latest:.3f})"
    return None
