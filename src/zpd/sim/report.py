"""Summaries of simulation runs: mean and spread over seeds, ratios to the oracle, the floors.

What it is: pure functions from a list of :class:`~zpd.sim.runner.RunMetrics` to per-policy
summaries, a printable table, a JSON-ready dict, and the acceptance floors of the ``zpd`` policy.
What it is not: the loop that produces the runs (:mod:`zpd.sim.runner`) nor the CLI.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zpd.sim.config import WorldConfig
from zpd.sim.runner import RunConfig, RunMetrics

METRICS: tuple[str, ...] = (
    "informative_fraction", "rollouts_per_informative", "near_impossible_share", "mean_pq",
    "new_item_share", "final_mean_p", "curriculum_seconds", "seconds",
)
"""Per-run metrics summarised per policy (RunMetrics attributes)."""


@dataclass(frozen=True)
class Stat:
    """Mean and sample std over seeds (std 0 for one seed)."""

    mean: float
    std: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        arr = np.asarray(values, dtype=np.float64)
        std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        return cls(float(arr.mean()), std, tuple(float(v) for v in arr))


@dataclass(frozen=True)
class PolicySummary:
    """One policy over its seeds."""

    policy: str
    stats: dict[str, Stat]
    """METRICS name -> Stat over seeds."""
    ratio_to_oracle: float | None
    """Mean informative fraction / the oracle's (None when oracle was not run)."""


def summarize(runs: Sequence[RunMetrics]) -> list[PolicySummary]:
    """Group runs by policy (first-seen order); ratios use the oracle's mean if present."""
    by_policy: dict[str, list[RunMetrics]] = {}
    for run in runs:
        by_policy.setdefault(run.policy, []).append(run)
    stats = {
        name: {m: Stat.of([getattr(r, m) for r in group]) for m in METRICS}
        for name, group in by_policy.items()
    }
    oracle = stats.get("oracle", {}).get("informative_fraction")
    return [
        PolicySummary(
            policy=name,
            stats=st,
            ratio_to_oracle=_ratio(st["informative_fraction"].mean, oracle.mean)
            if oracle is not None else None,
        )
        for name, st in stats.items()
    ]


def _ratio(value: float, base: float) -> float:
    return value / base if base > 0 else math.inf


def format_table(summaries: Sequence[PolicySummary]) -> str:
    """A fixed-width table, one row per policy, mean ± std over seeds."""
    header = (
        f"{'policy':<13}{'informative':>16}{'rollouts/inf':>16}{'near-imposs.':>16}"
        f"{'E[p(1-p)]':>11}{'new items':>11}{'vs oracle':>11}{'cur s/run':>11}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        st = s.stats
        ratio = "-" if s.ratio_to_oracle is None else f"{s.ratio_to_oracle:.2f}x"
        lines.append(
            f"{s.policy:<13}{_pm(st['informative_fraction'], 3):>16}"
            f"{_pm(st['rollouts_per_informative'], 1):>16}"
            f"{_pm(st['near_impossible_share'], 3):>16}{st['mean_pq'].mean:>11.3f}"
            f"{st['new_item_share'].mean:>11.3f}"
            f"{ratio:>11}{st['curriculum_seconds'].mean:>11.2f}"
        )
    return "\n".join(lines)


def _pm(stat: Stat, digits: int) -> str:
    return f"{stat.mean:.{digits}f}±{stat.std:.{digits}f}"


def to_json(
    world: WorldConfig, run: RunConfig, summaries: Sequence[PolicySummary]
) -> dict[str, Any]:
    """A JSON-ready dict: the world, the run settings, and per-policy stats and ratios."""
    world_dict = dataclasses.asdict(world)
    world_dict["reward_kind"] = world.reward_kind.value
    return {
        "world": world_dict,
        "run": {"policies": list(run.policies), "seeds": list(run.seeds),
                "max_rounds": run.max_rounds},
        "policies": {
            s.policy: {
                "ratio_to_oracle": s.ratio_to_oracle,
                **{m: {"mean": _finite(st.mean), "std": _finite(st.std),
                       "per_seed": [_finite(v) for v in st.values]}
                   for m, st in s.stats.items()},
            }
            for s in summaries
        },
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class FloorCheck:
    """One acceptance floor of the ``zpd`` policy."""

    name: str
    value: float
    threshold: float
    at_least: bool
    """True: value must be >= threshold; False: value must be <= threshold."""

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold if self.at_least else self.value <= self.threshold


FLOORS: tuple[tuple[str, str, float], ...] = (
    ("informative vs oracle", "oracle", 0.75),
    ("informative vs uniform", "uniform", 1.5),
    ("informative vs mopps", "mopps", 1.1),
)
"""(name, baseline policy, least ratio of zpd's mean informative fraction to the baseline's)."""

NEAR_IMPOSSIBLE_CEILING = 0.05
"""Largest share of zpd's samples on items with true p < 0.02."""


def check_floors(summaries: Sequence[PolicySummary], policy: str = "zpd") -> list[FloorCheck]:
    """The floors that can be checked from ``summaries`` (baselines that were not run are skipped)."""
    by_name = {s.policy: s for s in summaries}
    if policy not in by_name:
        return []
    mine = by_name[policy].stats
    checks = [
        FloorCheck(name, _ratio(mine["informative_fraction"].mean,
                                by_name[base].stats["informative_fraction"].mean), least, True)
        for name, base, least in FLOORS
        if base in by_name
    ]
    checks.append(FloorCheck("near-impossible share", mine["near_impossible_share"].mean,
                             NEAR_IMPOSSIBLE_CEILING, False))
    return checks


def format_floors(checks: Sequence[FloorCheck]) -> str:
    """One line per floor: PASS/FAIL, value, threshold."""
    lines = []
    for c in checks:
        op = ">=" if c.at_least else "<="
        lines.append(f"{'PASS' if c.passed else 'FAIL'}  {c.name:<24} {c.value:8.3f}  "
                     f"(floor {op} {c.threshold})")
    return "\n".join(lines)
