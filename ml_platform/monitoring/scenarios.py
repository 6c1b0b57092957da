"""Deterministic daily prediction partitions for the monitoring scenarios (tests, benchmarks, docs).

Scores come from a hidden logistic model of the synthetic user features, so labels and scores
share real signal. Knobs: a feature that breaks on ``break_day`` (its value frozen, shifting
scores), a fallback share ramping to ``fallback_to`` from ``fallback_day``, and label noise
growing from ``decay_day`` (a decaying AUC).
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

FALLBACK_SCORE = 0.5


@dataclass(frozen=True)
class Scenario:
    n_users: int = 2000
    seed: int = 7
    break_day: int | None = None
    fallback_day: int | None = None
    fallback_to: float = 0.4
    fallback_ramp_days: int = 5
    decay_day: int | None = None
    decay_per_day: float = 0.03  # share of labels replaced by noise, added per day after decay_day

    def _rng(self, day: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, day, stream])

    def expected_users(self, day: int) -> np.ndarray:
        return np.flatnonzero(self._rng(day, 1).random(self.n_users) < 0.6)

    def predictions(self, day: int) -> pd.DataFrame:
        """Day ``day``'s partition: user_id, score, is_fallback."""
        users = self.expected_users(day)
        users = users[self._rng(day, 2).random(users.size) < 0.99]  # a few always missed: normal noise
        logit = self._logit(day, users)
        if self.break_day is not None and day >= self.break_day:
            logit = -2.0 + 0.6 * logit  # the top feature arrives constant: scores squeeze toward the prior
        score = 1 / (1 + np.exp(-logit))
        share = self._fallback_share(day)
        fallback = self._rng(day, 3).random(users.size) < share
        score = np.where(fallback, FALLBACK_SCORE, score)
        return pd.DataFrame({"date": pd.Timestamp(date(2026, 1, 1) + timedelta(day)), "user_id": users, "score": score, "is_fallback": fallback})

    def labels(self, day: int) -> pd.DataFrame:
        """Outcomes of day ``day`` for its expected users (landing later, as labels do)."""
        users = self.expected_users(day)
        truth = self._rng(day, 4).random(users.size) < 1 / (1 + np.exp(-self._logit(day, users)))
        if self.decay_day is not None and day >= self.decay_day:
            noise = min(1.0, self.decay_per_day * (day - self.decay_day + 1))
            flip = self._rng(day, 5).random(users.size) < noise
            truth = np.where(flip, self._rng(day, 6).random(users.size) < 0.3, truth)
        return pd.DataFrame({"user_id": users, "label": truth.astype("int64")})

    def _logit(self, day: int, users: np.ndarray) -> np.ndarray:
        base = np.random.default_rng([self.seed, 0, 7]).normal(0, 1.2, self.n_users)
        daily = self._rng(day, 8).normal(0, 0.3, self.n_users)
        return (base + daily)[users] - 1.0

    def _fallback_share(self, day: int) -> float:
        normal = 0.02
        if self.fallback_day is None or day < self.fallback_day:
            return normal
        step = min(1.0, (day - self.fallback_day + 1) / self.fallback_ramp_days)
        return normal + step * (self.fallback_to - normal)
