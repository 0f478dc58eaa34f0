"""Named simulated worlds, so a policy is judged in worlds that differ, not tuned to one.

What it is: a few :class:`~zpd.sim.config.WorldConfig` variants that stress different weaknesses
of a curriculum (fast drift, cold start, fractional rewards, weak features, an easy pool, an
offline pass-rate prior, memorization of trained items). What it is not: a guarantee; a held-out
grader uses other worlds, so a policy should pass all of these without knowing which one it is in.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from zpd.sim.config import RewardKind, WorldConfig
from zpd.sim.errors import SimConfigError


class Preset(str, Enum):
    """A named world."""

    DEFAULT = "default"
    STEEP_DRIFT = "steep-drift"
    COLD_START = "cold-start"
    FRACTIONAL_REWARDS = "fractional-rewards"
    NOISY_FEATURES = "noisy-features"
    EASY_POOL = "easy-pool"
    PASS_RATE_PRIOR = "pass-rate-prior"
    MEMORIZATION = "memorization"
    ENDOGENOUS = "endogenous"
    SMALL_POOL = "small-pool"


PRESET_HELP: dict[Preset, str] = {
    Preset.DEFAULT: "100k items, 8 skills drifting at different rates, 20% arriving mid-run, "
    "25% near-impossible tail",
    Preset.STEEP_DRIFT: "abilities rise 3x faster and practice counts double: stale pass-rate "
    "estimates go wrong quickly",
    Preset.COLD_START: "60% of the pool arrives mid-run in 6 waves, harder than the rest: only "
    "features and the shared ability model can place it",
    Preset.FRACTIONAL_REWARDS: "rewards are the share of 4 unit tests passed (code-like), "
    "30% near-impossible tail",
    Preset.NOISY_FEATURES: "the difficulty feature is barely informative, 40% missing, most of "
    "the tail disguised: the policy must learn from outcomes",
    Preset.EASY_POOL: "most of the pool is already solved at the start: waste is on the easy side",
    Preset.PASS_RATE_PRIOR: "items carry an offline pass rate (8 base-model samples at step 0), "
    "as after pass@k filtering; static (AdaRFT) uses it",
    Preset.MEMORIZATION: "training an item moves it fast (practice 0.5 logit per informative "
    "group, up to 4): re-sampling the same items goes stale quickly",
    Preset.ENDOGENOUS: "ability grows only through training (informative groups), 300 steps: "
    "a policy that wastes rollouts stalls, and the band moves only as fast as the policy teaches",
    Preset.SMALL_POOL: "300 prompts, 8 per draw, 30 draws (a TRL-sized run): about 40% solved, "
    "30% hopeless, 30% in band; fixation on a few prompts shows here",
}

_CHANGES: dict[Preset, dict[str, Any]] = {
    Preset.DEFAULT: {},
    Preset.STEEP_DRIFT: {"drift_rate": 0.03, "drift_spread": 0.9, "practice_effect": 0.3,
                         "practice_cap": 2.0},
    Preset.COLD_START: {"arrival_fraction": 0.6, "arrival_waves": 6, "arrival_start": 0.1,
                        "arrival_end": 0.8, "arrival_shift": 1.0},
    Preset.FRACTIONAL_REWARDS: {"reward_kind": RewardKind.FRACTIONAL, "reward_parts": 4,
                                "hard_share": 0.3},
    Preset.NOISY_FEATURES: {"feature_noise": 3.0, "missing_rate": 0.4, "hard_disguised": 0.8},
    Preset.EASY_POOL: {"difficulty_offset": -1.5, "hard_share": 0.1},
    Preset.PASS_RATE_PRIOR: {"offline_samples": 8},
    Preset.MEMORIZATION: {"practice_effect": 0.5, "practice_cap": 4.0},
    Preset.ENDOGENOUS: {"endogenous_rate": 0.02, "steps": 300},
    Preset.SMALL_POOL: {"num_items": 300, "batch_size": 8, "steps": 30, "arrival_fraction": 0.0,
                        "hard_share": 0.3, "difficulty_offset": -1.6, "difficulty_spread": 1.6},
}


def parse_preset(value: str | Preset) -> Preset:
    """The :class:`Preset` named by ``value`` (string accepted)."""
    try:
        return Preset(value)
    except ValueError:
        names = ", ".join(p.value for p in Preset)
        raise SimConfigError(f"unknown preset {value!r}; choose one of: {names}") from None


def preset_config(preset: str | Preset = Preset.DEFAULT, **overrides: Any) -> WorldConfig:
    """The world of ``preset``, with ``overrides`` (WorldConfig fields) applied on top."""
    changes = dict(_CHANGES[parse_preset(preset)])
    changes.update(overrides)
    return WorldConfig().replace(**changes)
