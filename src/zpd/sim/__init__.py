"""zpd.sim: a simulated learner for comparing curriculum policies at scale (`zpd sim`).

What it is: a vectorised world of items with latent difficulty, drifting per-category abilities,
practice effects, mid-run arrivals and a near-impossible tail (:mod:`zpd.sim.world`); a runner
that trains each policy of ``zpd.Curriculum`` against it (:mod:`zpd.sim.runner`); summaries,
ratios to the oracle and the acceptance floors (:mod:`zpd.sim.report`); named worlds
(:mod:`zpd.sim.presets`). What it is not: a model of language, or part of the core.

    from zpd.sim import preset_config, RunConfig, run_comparison, summarize, format_table
    runs = run_comparison(preset_config("default", steps=100), RunConfig(policies=("uniform", "zpd")))
    print(format_table(summarize(runs)))
"""

from __future__ import annotations

from zpd.sim.config import RewardKind, WorldConfig
from zpd.sim.errors import SimConfigError
from zpd.sim.presets import PRESET_HELP, Preset, parse_preset, preset_config
from zpd.sim.report import (
    FLOORS,
    NEAR_IMPOSSIBLE_CEILING,
    FloorCheck,
    PolicySummary,
    Stat,
    check_floors,
    format_floors,
    format_table,
    summarize,
    to_json,
)
from zpd.sim.runner import (
    ALL_POLICIES,
    CurriculumLike,
    RunConfig,
    RunMetrics,
    run_comparison,
    run_policy,
    zpd_curriculum,
)
from zpd.sim.world import FEATURE_NAMES, NEAR_IMPOSSIBLE_P, World, has_signal

__all__ = [
    "ALL_POLICIES", "FEATURE_NAMES", "FLOORS", "NEAR_IMPOSSIBLE_CEILING", "NEAR_IMPOSSIBLE_P",
    "PRESET_HELP", "CurriculumLike", "FloorCheck", "PolicySummary", "Preset", "RewardKind",
    "RunConfig", "RunMetrics", "SimConfigError", "Stat", "World", "WorldConfig",
    "check_floors", "format_floors", "format_table", "has_signal", "parse_preset",
    "preset_config", "run_comparison", "run_policy", "summarize", "to_json", "zpd_curriculum",
]
