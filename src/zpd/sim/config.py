"""Configuration of the simulated world: one frozen dataclass, validated at construction.

What it is: every knob of :class:`zpd.sim.world.World` (pool size, drift, practice, arrivals, feature
noise, near-impossible tail, reward kind) with its meaning and range. What it is not: the runner's
settings (policies, seeds), which live in :mod:`zpd.sim.runner`, nor named presets
(:mod:`zpd.sim.presets`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from zpd.sim.errors import SimConfigError


class RewardKind(str, Enum):
    """How a rollout is scored."""

    BINARY = "binary"
    """Bernoulli(p): pass or fail (math answer checking)."""
    FRACTIONAL = "fractional"
    """Binomial(parts, p) / parts: share of unit tests passed (code)."""


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines a simulated world; validated at construction."""

    num_items: int = 100_000
    """Items in the pool by the end of the run, mid-run arrivals included."""
    num_categories: int = 8
    """Categories (skills); each has its own ability and drift rate. Shares are uneven."""
    group_size: int = 8
    """Rollouts per item per step (G in GRPO)."""
    batch_size: int = 256
    """Items sampled per training step (B)."""
    steps: int = 200
    """Training steps."""
    ability_spread: float = 0.6
    """Std of the categories' initial abilities (logits)."""
    difficulty_offset: float = 1.0
    """Mean ordinary difficulty minus mean initial ability (logits); > 0: pool starts hard."""
    difficulty_spread: float = 1.5
    """Std of ordinary items' difficulties (logits)."""
    discrimination: float = 1.5
    """Median slope a of the logistic link; items' slopes vary log-normally (sd 0.3)."""
    drift_rate: float = 0.01
    """Mean ability gain per step (logits); the band of useful items drifts by this."""
    drift_spread: float = 0.8
    """Categories' drift rates are drift_rate * U(1 - spread, 1 + spread); in [0, 1]."""
    endogenous_rate: float = 0.0
    """If > 0, abilities do not drift on their own: they grow only through training. Each step
    category c gains endogenous_rate * (its drift-rate weight) * (half the batch's informative
    share + half its own informative groups / its expected share of the batch) logits, capped at
    3 * endogenous_rate. A policy that trains more informative groups learns faster; one that
    wastes rollouts stalls. drift_rate then only places the near-impossible tail (the gain a
    run is expected to make)."""
    practice_effect: float = 0.15
    """Ability offset an item gains each time it is trained with an informative group (logits)."""
    practice_cap: float = 1.0
    """Largest practice offset an item can accumulate (logits)."""
    arrival_fraction: float = 0.2
    """Share of num_items that is not in the pool at the start and arrives mid-run."""
    arrival_start: float = 0.25
    """Fraction of the run at which the first arrival wave lands."""
    arrival_end: float = 0.75
    """Fraction of the run at which the last arrival wave lands."""
    arrival_waves: int = 4
    """Number of equal arrival waves, evenly spaced between arrival_start and arrival_end."""
    arrival_shift: float = 0.5
    """Extra difficulty of arriving items (logits): fresh data tends to aim past the frontier."""
    feature_noise: float = 1.0
    """Std of the noise on the difficulty feature, in logits of true difficulty."""
    missing_rate: float = 0.1
    """Share of numeric feature values that are NaN (missing), per feature."""
    offline_samples: int = 0
    """If > 0, add a ``prior_pass_rate`` feature: successes / k of k base-model samples at step 0."""
    hard_share: float = 0.25
    """Share of items in the near-impossible tail (true p below 0.02 for most of the run)."""
    hard_gap: float = 4.5
    """Logit margin by which tail items stay out of reach at the end of the run (plus Exp(1))."""
    hard_disguised: float = 0.3
    """Share of tail items whose features look ordinary (e.g. a broken reference answer)."""
    reward_kind: RewardKind = RewardKind.BINARY
    """Binary pass/fail rewards or fractional (share of parts passed)."""
    reward_parts: int = 4
    """Parts per rollout for fractional rewards (ignored for binary)."""
    seed: int = 0
    """Seed of the world's latent parameters and of its reward draws."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "reward_kind", _parse_reward_kind(self.reward_kind))
        _check_ints(self)
        _check_floats(self)
        if self.arrival_start > self.arrival_end:
            raise SimConfigError(
                f"arrival_start={self.arrival_start} is after arrival_end={self.arrival_end}; "
                "give arrival_start <= arrival_end"
            )
        if self.initial_items < 1:
            raise SimConfigError(
                f"arrival_fraction={self.arrival_fraction} leaves no item at the start of a "
                f"{self.num_items}-item world; lower arrival_fraction or raise num_items"
            )

    @property
    def initial_items(self) -> int:
        """Items in the pool at step 0."""
        return self.num_items - self.arriving_items

    @property
    def arriving_items(self) -> int:
        """Items that arrive mid-run."""
        return int(round(self.arrival_fraction * self.num_items))

    def replace(self, **changes: object) -> WorldConfig:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SimConfigError(f"unknown WorldConfig field(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _parse_reward_kind(value: object) -> RewardKind:
    try:
        return RewardKind(value)
    except ValueError:
        choices = ", ".join(k.value for k in RewardKind)
        raise SimConfigError(f"reward_kind={value!r} is not one of: {choices}") from None


_INT_MIN = {
    "num_items": 1, "num_categories": 1, "group_size": 2, "batch_size": 1, "steps": 1,
    "arrival_waves": 1, "reward_parts": 1, "offline_samples": 0,
}
_FLOAT_RANGE = {
    "ability_spread": (0.0, math.inf), "difficulty_offset": (-math.inf, math.inf),
    "difficulty_spread": (0.0, math.inf), "discrimination": (1e-3, math.inf),
    "drift_rate": (0.0, math.inf), "drift_spread": (0.0, 1.0), "endogenous_rate": (0.0, 10.0),
    "practice_effect": (0.0, math.inf), "practice_cap": (0.0, math.inf),
    "arrival_fraction": (0.0, 1.0), "arrival_start": (0.0, 1.0), "arrival_end": (0.0, 1.0),
    "arrival_shift": (-math.inf, math.inf), "feature_noise": (0.0, math.inf),
    "missing_rate": (0.0, 1.0), "hard_share": (0.0, 1.0), "hard_gap": (0.0, math.inf),
    "hard_disguised": (0.0, 1.0),
}


def _check_ints(cfg: WorldConfig) -> None:
    for name, low in _INT_MIN.items():
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise SimConfigError(f"WorldConfig.{name}={value!r}: give an integer >= {low}")
    if not isinstance(cfg.seed, (int, np.integer)) or isinstance(cfg.seed, bool) or cfg.seed < 0:
        raise SimConfigError(f"WorldConfig.seed={cfg.seed!r}: give a non-negative integer")


def _check_floats(cfg: WorldConfig) -> None:
    for name, (low, high) in _FLOAT_RANGE.items():
        value = getattr(cfg, name)
        ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
        if not ok or not (low <= float(value) <= high) or math.isnan(float(value)):
            raise SimConfigError(f"WorldConfig.{name}={value!r}: give a number in [{low}, {high}]")
