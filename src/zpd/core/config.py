"""Configuration of the zpd core: enums and frozen, validated dataclasses.

One dataclass per concern (tracker, ability model, each policy), gathered in
:class:`CurriculumConfig`. Every field is checked at construction; unknown keys in
:meth:`CurriculumConfig.from_dict` and out-of-range values raise :class:`ConfigError`.
This module holds no logic beyond validation and (de)serialisation to plain dicts.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from zpd.core.errors import ConfigError

__all__ = [
    "AbilityConfig",
    "AdvantageKind",
    "CurriculumConfig",
    "GresoConfig",
    "LearnabilityConfig",
    "MoppsConfig",
    "PolicyName",
    "StaticConfig",
    "TrackerConfig",
    "ZpdPolicyConfig",
]

E = TypeVar("E", bound="_ParsableEnum")


class _ParsableEnum(str, enum.Enum):
    """A string enum that parses its value (case-insensitive) or itself, with a clear error."""

    @classmethod
    def parse(cls: type[E], value: object) -> E:
        """Return the member for ``value`` (a member or its string value)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            for member in cls:
                if member.value == key:
                    return member
        choices = ", ".join(repr(m.value) for m in cls)
        raise ConfigError(f"unknown {cls.__name__} {value!r}; choose one of {choices}")


class PolicyName(_ParsableEnum):
    """Names of the selection policies; see :mod:`zpd.core.policies`."""

    ZPD = "zpd"
    UNIFORM = "uniform"
    DAPO = "dapo"
    GRESO = "greso"
    MOPPS = "mopps"
    LEARNABILITY = "learnability"
    STATIC = "static"
    ORACLE = "oracle"


class AdvantageKind(_ParsableEnum):
    """Advantage estimators of :mod:`zpd.core.advantage`."""

    GRPO = "grpo"
    DR_GRPO = "dr_grpo"
    TRACKER = "tracker"


def _num(cfg: object, name: str, lo: float, hi: float, *, lo_open: bool = False,
         hi_open: bool = False) -> None:
    """Check that ``cfg.name`` is a finite real number in the given range."""
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{type(cfg).__name__}.{name} must be a finite number, got {value!r}")
    below = value <= lo if lo_open else value < lo
    above = value >= hi if hi_open else value > hi
    if below or above:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ConfigError(
            f"{type(cfg).__name__}.{name} = {value!r} is out of range {lb}{lo}, {hi}{rb}"
        )


def _int(cfg: object, name: str, lo: int, hi: int) -> None:
    """Check that ``cfg.name`` is an integer in [lo, hi]."""
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(
            f"{type(cfg).__name__}.{name} must be an integer in [{lo}, {hi}], got {value!r}"
        )


@dataclass(frozen=True)
class TrackerConfig:
    """Per-item Beta posterior over the pass rate, with forgetting toward the ability model."""

    forgetting: float = 0.85
    """Share of an item's evidence kept per round (sample() call); (0, 1]. 1 = never forget.
    With ``adapt_forgetting`` this is the starting rate."""
    adapt_forgetting: bool = True
    """Choose the forgetting rate online by how well each candidate rate predicts outcomes."""
    prior_strength_min: float = 1.0
    """Smallest pseudo-count the ability model's prediction is worth as a Beta prior (> 0)."""
    prior_strength_max: float = 12.0
    """Largest pseudo-count the ability model's prediction is worth as a Beta prior."""
    interval_z: float = 1.645
    """Normal quantile of the reported interval: mean +- z * sd, clipped to [0, 1]."""

    def __post_init__(self) -> None:
        _num(self, "forgetting", 0.0, 1.0, lo_open=True)
        if not isinstance(self.adapt_forgetting, bool):
            raise ConfigError("TrackerConfig.adapt_forgetting must be a bool")
        _num(self, "prior_strength_min", 0.0, 1e6, lo_open=True)
        _num(self, "prior_strength_max", self.prior_strength_min, 1e6)
        _num(self, "interval_z", 0.0, 10.0, lo_open=True)


@dataclass(frozen=True)
class AbilityConfig:
    """Online Rasch model: global ability + per-category offsets, a difficulty per item."""

    ability_drift: float = 0.02
    """Variance (logit^2) added to the global ability's uncertainty per round; lets it move."""
    category_prior_var: float = 1.0
    """Prior variance of a category's ability offset from the global ability."""
    category_drift: float = 0.005
    """Variance added to each category offset's uncertainty per round."""
    difficulty_prior_var: float = 1.0
    """Variance of an item's difficulty around the feature model's prediction, before data."""
    difficulty_forgetting: float = 0.995
    """Share of an item difficulty's precision (beyond the prior) kept per round; (0, 1]."""
    max_step: float = 1.5
    """Largest change of any logit (ability or difficulty) in one update."""
    feature_ridge: float = 1.0
    """Ridge penalty of the feature -> difficulty regression."""
    feature_forgetting: float = 0.99
    """Share of the feature regression's sufficient statistics kept per round; (0, 1]."""
    selection_memory: float = 0.8
    """An item re-observed after ``age`` rounds informs the shared ability with weight
    1 - selection_memory**age (it was picked because of its own recent outcomes, so its
    residual is selection-biased); never-observed items count fully. 0 = no discount."""
    practice_prior_var: float = 0.25
    """Prior variance of the practice effect (logits an item gains each time it is trained
    with an informative group; learned online from re-observed items, starts at 0); 0 = off."""
    tail_share: float = 0.1
    """Prior share of near-impossible items (a mixture component); refitted online; 0 = off."""
    tail_pass_rate: float = 0.005
    """Pass rate of an item in the near-impossible component."""
    offline_feature: str = "prior_pass_rate"
    """Numeric feature holding offline pass rates in [0, 1] (reference-model samples, or
    ``zpd score difficulty``). When present, each item's difficulty evidence is seeded with
    them, as if observed at the starting ability (BOTS, arXiv 2510.26374): the posterior and
    the ability model place the item before its first rollout. NaN = no offline rate."""
    offline_samples: float = 8.0
    """Rollouts an offline pass rate counts as (its k); a ``prior_samples`` feature, if
    given, overrides it per item. 0 = use the feature only as a regression input."""

    def __post_init__(self) -> None:
        _num(self, "ability_drift", 0.0, 10.0)
        _num(self, "category_prior_var", 0.0, 100.0, lo_open=True)
        _num(self, "category_drift", 0.0, 10.0)
        _num(self, "difficulty_prior_var", 0.0, 100.0, lo_open=True)
        _num(self, "difficulty_forgetting", 0.0, 1.0, lo_open=True)
        _num(self, "max_step", 0.0, 20.0, lo_open=True)
        _num(self, "feature_ridge", 0.0, 1e9, lo_open=True)
        _num(self, "feature_forgetting", 0.0, 1.0, lo_open=True)
        _num(self, "selection_memory", 0.0, 1.0, hi_open=True)
        _num(self, "practice_prior_var", 0.0, 10.0)
        _num(self, "tail_share", 0.0, 0.5)
        _num(self, "tail_pass_rate", 0.0, 0.1, lo_open=True)
        if not isinstance(self.offline_feature, str) or not self.offline_feature:
            raise ConfigError("AbilityConfig.offline_feature must be a non-empty string")
        _num(self, "offline_samples", 0.0, 1e6)


@dataclass(frozen=True)
class ZpdPolicyConfig:
    """The default policy: most likely mixed groups, quarantine, probes and anchors."""

    pool_factor: int = 8
    """Candidates scored per requested item (random pool of pool_factor * n ids)."""
    frontier_factor: int = 12
    """Candidates also include the last frontier_factor * n ids that gave a mixed group.
    12 (was 4): with the repeat cap, the last draws' picks are not eligible, so the ring must
    hold more than they do, or the cap sends picks to untried (riskier) items."""
    exploration: float = 0.8
    """Weight of the posterior-uncertainty bonus added to P(mixed group). Raised from 0.4 with
    the repeat cap: the cap sends more picks to fresh items, and uncertainty is what tells
    which fresh items are worth a visit (docs/coverage.md)."""
    tail_budget: float = 0.03
    """Largest expected share of a batch on items that may be near-impossible (the mean of
    the picks' tail probabilities). Such prompts waste rollouts and their rare lucky
    successes teach shortcuts; a price on the tail probability, adapted each round by dual
    ascent, holds the batch under this budget (1 = no limit)."""
    quarantine_threshold: float = 0.02
    """An observed item is quarantined while P(pass rate < this) >= quarantine_confidence."""
    quarantine_confidence: float = 0.9
    """Posterior probability of being below quarantine_threshold that quarantines an item."""
    probe_share: float = 0.01
    """Share of each batch spent re-probing quarantined items (most promising first)."""
    anchor_share: float = 0.03
    """Share of each batch replaying mastered items as retention anchors (stochastically
    rounded, so small batches get anchors at this rate on average)."""
    anchor_reservoir: int = 256
    """Mastered items remembered for anchor replay: a uniform reservoir sample of every item
    ever observed at or above ``mastery_threshold`` (O(1) per item; 0 = pool candidates only)."""
    first_visit: float = 1.0
    """Bonus for never-observed candidates once the pool has been sampled more than half a time
    per item on average: first_visit * P(mixed) * clip(2 * visits per item - 1, 0, 1), so in
    small pools no plausible item stays unvisited for long; in large pools (< 0.5 visits per
    item) it is 0."""
    mastery_threshold: float = 0.9
    """An observed item whose posterior mean is at least this counts as mastered."""
    repeat_window: int = 4
    """Draws (this one included) over which ``repeat_cap`` counts an item's picks."""
    repeat_cap: int = 1
    """Most picks of one item within any ``repeat_window`` consecutive draws (0 = no cap).
    A prompt trained in draw after draw is memorised, not learned from, and its pass rate
    stops measuring ability. The cap yields when the pool is short: capped items then fill
    the batch, fewest recent picks first. Default 1 in 4: no item in more than 25 % of any
    run's batches (measured: docs/coverage.md)."""
    selection_temperature: float = 0.0
    """0: take the top-scoring candidates. > 0: sample them without replacement with
    probability proportional to exp(score / temperature) (Gumbel top-k), so items a little less
    likely to mix keep being trained (a diagnostic for the lab's forgetting: docs/lab-learning.md)."""
    drift_tilt: float = 4.0
    """How strongly drift pressure 1.0 tilts scores toward easier items (exponent on mean)."""

    def __post_init__(self) -> None:
        _int(self, "pool_factor", 1, 4096)
        _int(self, "frontier_factor", 0, 4096)
        _num(self, "exploration", 0.0, 10.0)
        _num(self, "tail_budget", 0.0, 1.0)
        _num(self, "quarantine_threshold", 0.0, 0.5, lo_open=True)
        _num(self, "quarantine_confidence", 0.5, 1.0, hi_open=True)
        _num(self, "probe_share", 0.0, 0.5)
        _num(self, "anchor_share", 0.0, 0.5)
        _int(self, "anchor_reservoir", 0, 1 << 20)
        _num(self, "first_visit", 0.0, 10.0)
        _num(self, "mastery_threshold", 0.5, 1.0, lo_open=True, hi_open=True)
        _int(self, "repeat_window", 1, 4096)
        _int(self, "repeat_cap", 0, self.repeat_window)
        _num(self, "selection_temperature", 0.0, 10.0)
        _num(self, "drift_tilt", 0.0, 100.0)


@dataclass(frozen=True)
class MoppsConfig:
    """MoPPS (arXiv 2507.04632): Beta posteriors with discount, Thompson sampling."""

    decay: float = 0.5
    """Discount l in a <- l*a + (1-l)*a0 + k (applied to the prompts updated); [0, 1]."""
    prior_alpha: float = 1.0
    """a0 of the Beta prior."""
    prior_beta: float = 1.0
    """b0 of the Beta prior."""
    pool_factor: int = 8
    """Candidate pool size per requested item (the paper uses 8-16x the batch)."""
    target: float = 0.5
    """Pick the candidates whose sampled pass rate is closest to this."""

    def __post_init__(self) -> None:
        _num(self, "decay", 0.0, 1.0)
        _num(self, "prior_alpha", 0.0, 1e6, lo_open=True)
        _num(self, "prior_beta", 0.0, 1e6, lo_open=True)
        _int(self, "pool_factor", 1, 4096)
        _num(self, "target", 0.0, 1.0)


@dataclass(frozen=True)
class GresoConfig:
    """GRESO (arXiv 2506.02177) as released (Infini-AI-Lab/GRESO, ``DataProfiler`` and the
    ``all_probabilistic`` strategy of its ``ray_trainer.py``; defaults from its training
    scripts): epochs over the data, probabilistic pre-rollout skips of zero-variance prompts."""

    p_easy: float = 0.5
    """Initial base keep probability of prompts that were all-correct (kept with p^k)."""
    p_hard: float = 0.5
    """Initial base keep probability of prompts that were all-wrong."""
    delta: float = 0.01
    """Step by which p_easy / p_hard adapt after each update (from the second epoch on)."""
    target_easy: float = 0.25 / 3
    """Target share of all-correct groups per step (the release: target_zero_variance / 3)."""
    target_hard: float = 0.25 * 2 / 3
    """Target share of all-wrong groups per step (the release: 2 * target_zero_variance / 3)."""
    min_keep: float = 0.01
    """Floor of the keep probability, so no prompt is skipped forever."""
    min_p: float = 0.05
    """Lower bound of p_easy and p_hard (the release's ``min_p``)."""
    max_p: float = 0.95
    """Upper bound of p_easy and p_hard (the release's ``max_p``)."""

    def __post_init__(self) -> None:
        _num(self, "p_easy", 0.0, 1.0)
        _num(self, "p_hard", 0.0, 1.0)
        _num(self, "delta", 0.0, 1.0)
        _num(self, "target_easy", 0.0, 1.0)
        _num(self, "target_hard", 0.0, 1.0)
        _num(self, "min_keep", 0.0, 1.0, lo_open=True)
        _num(self, "min_p", 0.0, 1.0)
        _num(self, "max_p", self.min_p, 1.0)


@dataclass(frozen=True)
class LearnabilityConfig:
    """LILO (arXiv 2502.12272): sample by learnability p(1-p) of the last observed pass rate."""

    pool_factor: int = 8
    """Candidates drawn per requested item; the batch is drawn from them by learnability."""
    unseen_learnability: float = 0.25
    """Learnability assumed for never-observed items (0.25 = optimistic, the maximum)."""
    floor: float = 1e-3
    """Weight floor so every candidate keeps a small chance."""

    def __post_init__(self) -> None:
        _int(self, "pool_factor", 1, 4096)
        _num(self, "unseen_learnability", 0.0, 0.25)
        _num(self, "floor", 0.0, 1.0, lo_open=True)


@dataclass(frozen=True)
class StaticConfig:
    """AdaRFT (arXiv 2504.05520): a target difficulty that follows the batch reward.

    Defaults are the paper's: difficulty scale [0, 100], T0 = 0, eta = 50, alpha = 2,
    beta = 0.5 (AdaRFT section 3 / experimental setup)."""

    difficulty_feature: str = "difficulty"
    """Feature holding offline difficulty (any scale, higher = harder); mapped to its
    percentile rank (0-100) among the initial items, robust to tail outliers."""
    pass_rate_feature: str = "prior_pass_rate"
    """Preferred feature: an offline pass rate p, used as difficulty 100 * (1 - p) as in the
    paper (successes / k of k reference-model samples)."""
    target_init: float = 0.0
    """Initial target difficulty T on the [0, 100] scale."""
    eta: float = 50.0
    """Step size of T += eta * tanh(alpha * (R_avg - beta))."""
    alpha: float = 2.0
    """Sensitivity of the target update."""
    beta: float = 0.5
    """Target average reward."""

    def __post_init__(self) -> None:
        if not self.difficulty_feature or not self.pass_rate_feature:
            raise ConfigError("StaticConfig feature names must be non-empty strings")
        _num(self, "target_init", 0.0, 100.0)
        _num(self, "eta", 0.0, 1000.0)
        _num(self, "alpha", 0.0, 1000.0)
        _num(self, "beta", 0.0, 1.0)


_SECTIONS: dict[str, type[Any]] = {
    "tracker": TrackerConfig,
    "ability": AbilityConfig,
    "zpd": ZpdPolicyConfig,
    "mopps": MoppsConfig,
    "greso": GresoConfig,
    "learnability": LearnabilityConfig,
    "static": StaticConfig,
}


@dataclass(frozen=True)
class CurriculumConfig:
    """Everything a :class:`zpd.Curriculum` can be tuned by, one section per concern."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    """Per-item posterior and its forgetting."""
    ability: AbilityConfig = field(default_factory=AbilityConfig)
    """Shared ability (IRT) model and feature -> difficulty regression."""
    zpd: ZpdPolicyConfig = field(default_factory=ZpdPolicyConfig)
    """The default zpd policy."""
    mopps: MoppsConfig = field(default_factory=MoppsConfig)
    """MoPPS baseline."""
    greso: GresoConfig = field(default_factory=GresoConfig)
    """GRESO baseline."""
    learnability: LearnabilityConfig = field(default_factory=LearnabilityConfig)
    """LILO learnability baseline."""
    static: StaticConfig = field(default_factory=StaticConfig)
    """AdaRFT-like static band baseline."""

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"CurriculumConfig.{name} must be a {cls.__name__}")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict (JSON-serialisable)."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CurriculumConfig:
        """Build from a nested dict; unknown sections or keys raise :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a dict of sections, got {type(data).__name__}")
        unknown = set(data) - set(_SECTIONS)
        if unknown:
            raise ConfigError(
                f"unknown config section(s) {sorted(unknown)}; known: {sorted(_SECTIONS)}"
            )
        kwargs: dict[str, Any] = {}
        for name, section in data.items():
            sec_cls = _SECTIONS[name]
            if not isinstance(section, dict):
                raise ConfigError(f"config section {name!r} must be a dict")
            known = {f.name for f in dataclasses.fields(sec_cls)}
            bad = set(section) - known
            if bad:
                raise ConfigError(
                    f"unknown key(s) {sorted(bad)} in config section {name!r}; known: {sorted(known)}"
                )
            kwargs[name] = sec_cls(**section)
        return cls(**kwargs)
