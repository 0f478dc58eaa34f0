"""The curriculum options both verl routes read from verl's config, validated once.

What it is: :class:`CurriculumOptions`, the frozen options every verl shim takes (group size,
policy, seed, reward range), with the config path they live under (``WHERE``) named in every
error, and :meth:`CurriculumOptions.parse` for an OmegaConf node or a dict. The 0.7 route
(``zpd.integrations.verl``, under ``data.sampler.zpd``) adds its own fields by subclassing; the
0.9 route (``zpd.integrations.verl_v1``, under ``trainer.v1.sampler.sampler_kwargs.zpd``) uses
them as they are. What it is not: verl code; nothing here imports verl.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from zpd.integrations._errors import IntegrationError

OptionsT = TypeVar("OptionsT", bound="CurriculumOptions")


@dataclass(frozen=True)
class CurriculumOptions:
    """Options of a zpd curriculum inside verl."""

    WHERE: ClassVar[str] = "zpd"
    """The config path the options are read from (named in every error)."""

    group_size: int
    """Rollouts per prompt, ``actor_rollout_ref.rollout.n`` (verl does not pass it to zpd)."""
    policy: str = "zpd"
    """Curriculum policy name (``zpd.PolicyName``)."""
    seed: int = 0
    """Seed of the curriculum's random draws."""
    reward_range: tuple[float, float] = (0.0, 1.0)
    """(low, high) of a sequence score; mapped linearly to [0, 1] for the curriculum."""

    def __post_init__(self) -> None:
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, int) \
                or self.group_size < 1:
            raise IntegrationError(
                f"{self.WHERE}.group_size must be a positive int equal to "
                f"actor_rollout_ref.rollout.n, got {self.group_size!r}"
            )
        lo, hi = (float(x) for x in self.reward_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise IntegrationError(
                f"{self.WHERE}.reward_range must be [low, high] with low < high, got "
                f"{self.reward_range}"
            )
        object.__setattr__(self, "reward_range", (lo, hi))

    @classmethod
    def parse(cls: type[OptionsT], raw: Any) -> OptionsT:
        """Options from an OmegaConf node or a dict; unknown keys are an error naming them."""
        opts = _to_dict(raw)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise IntegrationError(
                f"unknown {cls.WHERE} keys {unknown}; known keys: {sorted(known)}"
            )
        if "reward_range" in opts:
            opts["reward_range"] = tuple(opts["reward_range"])
        return cls(**opts)


def _to_dict(node: Any) -> dict[str, Any]:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(node):
            return dict(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - verl always ships omegaconf
        pass
    return dict(node)
