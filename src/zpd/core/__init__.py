"""zpd.core: the numpy-only engine (tracker, ability model, policies, curriculum, advantage).

No torch, no I/O beyond the curriculum's state files; every random draw comes from the
curriculum's own ``np.random.Generator``. See ``docs/contract.md`` for the public API.
"""

from __future__ import annotations

from zpd.core import advantage
from zpd.core.advantage import informative
from zpd.core.config import (
    AbilityConfig,
    AdvantageKind,
    CurriculumConfig,
    GresoConfig,
    LearnabilityConfig,
    MoppsConfig,
    PolicyName,
    StaticConfig,
    TrackerConfig,
    ZpdPolicyConfig,
)
from zpd.core.curriculum import Curriculum, Estimate
from zpd.core.errors import (
    ConfigError,
    FeatureError,
    IdError,
    RewardError,
    SampleSizeError,
    StateError,
    ZpdError,
)

__all__ = [
    "AbilityConfig",
    "AdvantageKind",
    "ConfigError",
    "Curriculum",
    "CurriculumConfig",
    "Estimate",
    "FeatureError",
    "GresoConfig",
    "IdError",
    "LearnabilityConfig",
    "MoppsConfig",
    "PolicyName",
    "RewardError",
    "SampleSizeError",
    "StateError",
    "StaticConfig",
    "TrackerConfig",
    "ZpdError",
    "ZpdPolicyConfig",
    "advantage",
    "informative",
]
