"""Delayed-label performance: the declared metric of one partition's predictions once its labels land."""

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


def performance_problem(history: Sequence[float], floor: float | None, window: int, max_decay: float) -> str | None:
    """Why the newest value of ``history`` (oldest first) alerts, or None when healthy."""
    if not history:
        return None
    latest = history[-1]
    if floor is not None and latest < floor:
        return f"metric {latest:.3f} below floor {floor:.3f}"
    recent = history[-window:]
    if len(recent) >= window and recent[0] - latest > max_decay:
        return f"metric fell {recent[0] - latest:.3f} over {window} partitions ({recent[0]:.3f} → {latest:.3f})"
    return None
