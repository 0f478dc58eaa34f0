"""A simulated learner: a pool of prompts whose true pass rates move as RL training goes on.

What it is: a vectorised numpy model of an RLVR run seen from the prompt pool, built to compare
curriculum policies at scale (100k+ items, hundreds of steps, in seconds). Each item ``i`` has a
latent difficulty ``b_i``, a slope ``a_i`` and a category ``c_i``; each category has an ability
``theta_c(t)`` that drifts upward at its own rate; an item gains a practice offset each time it is
trained with a group that carried signal (GRPO learns nothing from a zero-variance group). The
true pass rate is the 2PL item-response link (Lord 1980; the IRT view of LLM evaluation in
arXiv 2106.00840)

    p_i(t) = sigmoid(a_i * (theta_{c_i}(t) + practice_i - b_i)).

A share of items sits in a heavy tail of near-impossible difficulty (some disguised with ordinary
features, like prompts with a broken reference answer); part of the pool arrives mid-run in waves.
The curriculum only sees noisy, partly missing features: ``category`` (int), ``difficulty`` (a
noisy offline difficulty score, higher = harder, in arbitrary units) and ``length`` (a length-like
proxy loosely tied to difficulty), and optionally ``prior_pass_rate`` (successes / k of k samples
of the base model, as offline pass@k filtering produces; it also exposes broken items). Item ids
are world indices: the initial pool is ``0 .. initial_items-1``, arrivals take the next ids.

With ``endogenous_rate > 0`` ability grows only through training (the endogenous-learning world):
each step a category gains in proportion to the informative groups trained on it, so a policy
that wastes rollouts stalls and one that trains in band learns faster.

What it is not: a language model, a trainer or a curriculum. By default ability drift is exogenous
(the run's progress) and only practice responds to the policy. The world never looks at a
policy's internals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zpd.sim.config import RewardKind, WorldConfig
from zpd.sim.errors import SimConfigError

NEAR_IMPOSSIBLE_P = 0.02
"""An item whose true pass rate is below this is counted as near-impossible."""

FEATURE_NAMES = ("category", "difficulty", "length")
"""Features the world always hands to a curriculum (plus ``prior_pass_rate`` if configured)."""

_SLOPE_SD = 0.3  # log-normal spread of item slopes around WorldConfig.discrimination


def has_signal(rewards: np.ndarray) -> np.ndarray:
    """Bool (B,): the group's rewards are not all equal (non-zero GRPO advantage).

    rewards: (B, G) floats. Works for binary and fractional rewards alike.
    """
    return np.asarray(rewards.max(axis=1) > rewards.min(axis=1))  # (B,)


class World:
    """The simulated pool and learner; a state machine advanced one training step at a time."""

    def __init__(self, config: WorldConfig) -> None:
        if not isinstance(config, WorldConfig):
            raise SimConfigError(f"World needs a WorldConfig, got {type(config).__name__}")
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        self._reward_rng = np.random.default_rng([config.seed, 1])
        self._draw_abilities(rng)
        self._draw_items(rng)
        self._draw_features(rng)
        self._schedule_arrivals()
        self._practice = np.zeros(config.num_items)  # (N,) logits gained by training
        self._learned = np.zeros(config.num_categories)  # (C,) endogenous ability gained
        self._pending = np.zeros(config.num_categories)  # (C,) informative groups this step
        self._step = 0
        self._active = config.initial_items

    # ----------------------------------------------------------------- construction
    def _draw_abilities(self, rng: np.random.Generator) -> None:
        cfg = self.config
        c = cfg.num_categories
        self._theta0 = rng.normal(0.0, cfg.ability_spread, c)  # (C,)
        spread = cfg.drift_spread
        self._rates = cfg.drift_rate * rng.uniform(1.0 - spread, 1.0 + spread, c)  # (C,)
        # Uneven category shares: abundant skills next to rare ones.
        self._shares = rng.dirichlet(np.full(c, 2.0))  # (C,)

    def _draw_items(self, rng: np.random.Generator) -> None:
        cfg = self.config
        n = cfg.num_items
        self._cat = rng.choice(cfg.num_categories, size=n, p=self._shares).astype(np.int64)  # (N,)
        self._slope = cfg.discrimination * np.exp(rng.normal(0.0, _SLOPE_SD, n))  # (N,)
        b = rng.normal(cfg.difficulty_offset, cfg.difficulty_spread, n)  # (N,)
        b[cfg.initial_items :] += cfg.arrival_shift
        self._ordinary_b = b.copy()  # what a disguised tail item's features pretend
        self._hard = rng.random(n) < cfg.hard_share  # (N,)
        theta_end = self._theta0 + self._rates * cfg.steps  # (C,)
        margin = (cfg.hard_gap + rng.exponential(1.0, n)) / self._slope  # (N,)
        b[self._hard] = (theta_end[self._cat] + margin)[self._hard]
        self._b = b  # (N,)

    def _draw_features(self, rng: np.random.Generator) -> None:
        cfg = self.config
        n = cfg.num_items
        self._disguised = self._hard & (rng.random(n) < cfg.hard_disguised)  # (N,)
        shown_b = np.where(self._disguised, self._ordinary_b, self._b)  # (N,)
        difficulty = 2.0 + 0.8 * (shown_b + rng.normal(0.0, cfg.feature_noise, n))
        length = np.exp(5.5 + 0.25 * shown_b + rng.normal(0.0, 0.5, n))
        for arr in (difficulty, length):
            arr[rng.random(n) < cfg.missing_rate] = np.nan
        self._features = {"category": self._cat, "difficulty": difficulty, "length": length}
        if cfg.offline_samples:  # an offline pass@k-style estimate with the base model
            logit = self._slope * (self._theta0[self._cat] - self._b)  # (N,)
            p0 = 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))
            prior = rng.binomial(cfg.offline_samples, p0) / cfg.offline_samples
            prior[rng.random(n) < cfg.missing_rate] = np.nan
            self._features["prior_pass_rate"] = prior

    def _schedule_arrivals(self) -> None:
        cfg = self.config
        if cfg.arriving_items == 0:
            self._wave_steps = np.zeros(0, dtype=np.int64)
            self._wave_sizes = np.zeros(0, dtype=np.int64)
            return
        at = np.linspace(cfg.arrival_start, cfg.arrival_end, cfg.arrival_waves) * cfg.steps
        last = max(1, cfg.steps - 1)  # a wave must land before the last step to be sampled
        self._wave_steps = np.clip(np.round(at).astype(np.int64), 1, last)  # (W,)
        chunks = np.array_split(np.arange(cfg.arriving_items), cfg.arrival_waves)
        self._wave_sizes = np.array([len(c) for c in chunks], dtype=np.int64)  # (W,)

    # ----------------------------------------------------------------- observation
    @property
    def step(self) -> int:
        """Training steps taken so far."""
        return self._step

    @property
    def num_active(self) -> int:
        """Items in the pool now (the initial pool plus arrivals so far)."""
        return self._active

    def features(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Copies of the features of items ``start .. stop-1`` (default: the active pool)."""
        stop = self._active if stop is None else stop
        if not 0 <= start <= stop <= self.config.num_items:
            raise SimConfigError(
                f"feature range [{start}, {stop}) is outside the world's "
                f"{self.config.num_items} items"
            )
        return {name: arr[start:stop].copy() for name, arr in self._features.items()}

    def abilities(self) -> np.ndarray:
        """(C,) category abilities now (logits)."""
        if self.config.endogenous_rate > 0:
            return self._theta0 + self._learned
        return self._theta0 + self._rates * self._step

    def pass_rate(self, ids: np.ndarray) -> np.ndarray:
        """(n,) true pass rates now (expected reward) of active items ``ids``."""
        ids = self._check_ids(ids)
        theta = self.abilities()[self._cat[ids]]  # (n,)
        logit = self._slope[ids] * (theta + self._practice[ids] - self._b[ids])
        p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))  # (n,)
        return p

    def latent(self) -> dict[str, np.ndarray]:
        """Read-only views of the latent parameters (for tests and analysis, not for policies)."""
        out: dict[str, Any] = {
            "difficulty": self._b, "slope": self._slope, "category": self._cat,
            "hard": self._hard, "disguised": self._disguised, "practice": self._practice,
        }
        views = {}
        for name, arr in out.items():
            view = arr.view()
            view.flags.writeable = False
            views[name] = view
        return views

    # ----------------------------------------------------------------- dynamics
    def rollout(self, ids: np.ndarray) -> np.ndarray:
        """(n, G) rewards in [0, 1] drawn from the true pass rates of ``ids`` now."""
        p = self.pass_rate(ids)[:, None]  # (n, 1)
        shape = (p.shape[0], self.config.group_size)
        if self.config.reward_kind is RewardKind.BINARY:
            return (self._reward_rng.random(shape) < p).astype(np.float64)  # (n, G)
        parts = self.config.reward_parts
        return self._reward_rng.binomial(parts, p, size=shape) / parts  # (n, G)

    def train(self, ids: np.ndarray, rewards: np.ndarray) -> None:
        """Apply practice: every id whose group carried signal gains ``practice_effect``."""
        ids = self._check_ids(ids)
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.ndim != 2 or rewards.shape[0] != ids.shape[0]:
            raise SimConfigError(
                f"rewards of shape {rewards.shape} do not match {ids.shape[0]} ids: "
                "give one row of G rewards per id"
            )
        trained = ids[has_signal(rewards)]
        np.add.at(self._pending, self._cat[trained], 1.0)
        np.add.at(self._practice, trained, self.config.practice_effect)
        np.minimum(self._practice, self.config.practice_cap, out=self._practice)

    def advance(self) -> int:
        """End the step: abilities drift (or learn), due arrivals join. Returns how many arrived."""
        rate = self.config.endogenous_rate
        if rate > 0:  # (C,) half shared transfer, half skill-specific, relative to pool share
            b = self.config.batch_size
            dr = self.config.drift_rate
            weight = self._rates / dr if dr > 0 else np.ones_like(self._rates)  # mean ~1
            own = self._pending / (b * self._shares)
            gain = rate * weight * (0.5 * self._pending.sum() / b + 0.5 * own)
            self._learned += np.minimum(gain, 3.0 * rate)
        self._pending[:] = 0.0
        self._step += 1
        due = int(self._wave_sizes[self._wave_steps == self._step].sum())
        self._active += due
        return due

    def _check_ids(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise SimConfigError(f"ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self._active):
            raise SimConfigError(
                f"ids must lie in [0, {self._active}) (the active pool); got "
                f"[{ids.min()}, {ids.max()}]"
            )
        return ids.astype(np.int64, copy=False)
