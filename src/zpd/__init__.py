"""zpd: keep RL post-training in the model's zone of proximal development.

The public core is importable from the top level::

    import zpd
    cur = zpd.Curriculum(num_items=N, policy="zpd", group_size=8, seed=0)
    ids = cur.sample(256)
    cur.update(ids, rewards)      # (len(ids), G) floats in [0, 1]

Subpackages: ``zpd.core`` (numpy-only engine), ``zpd.sim`` (simulated learner), ``zpd.lab``
(tiny GPT + GRPO on CPU), ``zpd.monitors`` (training-health monitors), ``zpd.integrations``
(TRL, verl, Ray, PyTorch), ``zpd.data`` (offline dataset scoring).
"""

from __future__ import annotations

__version__ = "0.1.0"

from zpd.core import (  # noqa: E402
    AbilityConfig,
    AdvantageKind,
    ConfigError,
    Curriculum,
    CurriculumConfig,
    Estimate,
    FeatureError,
    GresoConfig,
    IdError,
    LearnabilityConfig,
    MoppsConfig,
    PolicyName,
    RewardError,
    SampleSizeError,
    StateError,
    StaticConfig,
    TrackerConfig,
    ZpdError,
    ZpdPolicyConfig,
    advantage,
    informative,
)
from zpd.core.policies import Oracle  # noqa: E402

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
    "Oracle",
    "PolicyName",
    "RewardError",
    "SampleSizeError",
    "StateError",
    "StaticConfig",
    "TrackerConfig",
    "ZpdError",
    "ZpdPolicyConfig",
    "__version__",
    "advantage",
    "informative",
]
