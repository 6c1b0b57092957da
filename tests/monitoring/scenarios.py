"""Deterministic daily prediction partitions for the monitoring scenarios (tests, benchmarks, docs).

Each day, ``rows`` users are drawn from a pool twenty times larger (so days are close to
independent samples, as a small table's days are) and scored by a hidden logistic model, so labels
and scores share real signal. Knobs, each from a day on:

* ``break_day`` .. ``repair_day``: a feature arrives constant, squeezing scores toward the prior;
* ``creep_per_day`` from ``creep_day``: the score logit creeps up a little every day;
* ``coverage_loss_per_day`` from ``coverage_day``: a growing share of expected users gets no
  prediction (down to ``coverage_floor``);
* ``fallback_day``: the fallback share ramps to ``fallback_to`` over ``fallback_ramp_days``;
* ``decay_day``: label noise grows (a decaying AUC);
* ``segment_day``: the ``country`` mix changes and a new country appears.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

FALLBACK_SCORE = 0.5
START = date(2026, 1, 1)
COUNTRIES = ("JP", "US", "GB", "DE")
COUNTRY_MIX = (0.5, 0.3, 0.15, 0.05)
SHIFTED_MIX = {"JP": 0.3, "US": 0.3, "GB": 0.15, "DE": 0.05, "BR": 0.2}  # BR was never seen before


@dataclass(frozen=True)
class Scenario:
    rows: int = 1200  # expected users per day
    seed: int = 7
    break_day: int | None = None
    repair_day: int | None = None
    creep_day: int | None = None
    creep_per_day: float = 0.04
    coverage_day: int | None = None
    coverage_loss_per_day: float = 0.01
    coverage_floor: float = 0.7
    fallback_day: int | None = None
    fallback_to: float = 0.4
    fallback_ramp_days: int = 5
    decay_day: int | None = None
    decay_per_day: float = 0.03  # share of labels replaced by noise, added per day after decay_day
    segment_day: int | None = None
    small_days: tuple[int, ...] = ()  # days whose partition has only ``small_rows`` rows (too few to judge)
    small_rows: int = 20

    @property
    def pool(self) -> int:
        return max(20 * self.rows, 2000)

    def _rng(self, day: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, day, stream])

    def expected_users(self, day: int) -> np.ndarray:
        return np.sort(self._rng(day, 1).choice(self.pool, self.rows, replace=False))

    def predictions(self, day: int) -> pd.DataFrame:
        """Day ``day``'s partition: date, user_id, score, is_fallback, country."""
        users = self.expected_users(day)
        users = users[self._rng(day, 2).random(users.size) >= self._missed_share(day)]
        if day in self.small_days:
            users = users[: self.small_rows]
        logit = self._logit(day, users)
        if self.break_day is not None and self.break_day <= day < (self.repair_day or 10**6):
            logit = -2.0 + 0.6 * logit  # the top feature arrives constant: scores squeeze toward the prior
        if self.creep_day is not None and day >= self.creep_day:
            logit = logit + self.creep_per_day * (day - self.creep_day + 1)
        score = 1 / (1 + np.exp(-logit))
        fallback = self._rng(day, 3).random(users.size) < self._fallback_share(day)
        score = np.where(fallback, FALLBACK_SCORE, score)
        return pd.DataFrame(
            {"date": pd.Timestamp(self.day(day)), "user_id": users, "score": score, "is_fallback": fallback, "country": self._countries(day, users.size)}
        )

    @staticmethod
    def day(day: int) -> date:
        return START + timedelta(days=day)

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
        base = np.random.default_rng([self.seed, 0, 7]).normal(0, 1.2, self.pool)
        daily = self._rng(day, 8).normal(0, 0.3, users.size)
        return base[users] + daily - 1.0

    def _missed_share(self, day: int) -> float:
        normal = 0.01  # a few expected users always miss a prediction: normal noise
        if self.coverage_day is None or day < self.coverage_day:
            return normal
        return min(normal + self.coverage_loss_per_day * (day - self.coverage_day + 1), 1 - self.coverage_floor)

    def _fallback_share(self, day: int) -> float:
        normal = 0.02
        if self.fallback_day is None or day < self.fallback_day:
            return normal
        step = min(1.0, (day - self.fallback_day + 1) / self.fallback_ramp_days)
        return normal + step * (self.fallback_to - normal)

    def _countries(self, day: int, size: int) -> np.ndarray:
        mix = SHIFTED_MIX if self.segment_day is not None and day >= self.segment_day else dict(zip(COUNTRIES, COUNTRY_MIX, strict=True))
        return self._rng(day, 9).choice(list(mix), size, p=list(mix.values())).astype(object)
