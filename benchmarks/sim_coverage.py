"""Coverage, calibration and late-run floors of the zpd policy, against baselines in the same run.

Two worlds (3 seeds each), every floor printed with PASS/FAIL:

* endogenous (ability grows only through training, 300 steps, 100k items):
  zpd's informative share over the last 30 % of the run >= 0.8 x the oracle's; no item in more
  than 25 % of the batches of any 100-step window; first-visit calibration error <= 0.1.
* small-pool (300 prompts, 8 per draw, 30 draws: a TRL-sized run):
  no prompt in more than 3 of any 8 consecutive draws; >= 100 distinct prompts in the first 240
  picks (mean over seeds; the minimum is printed too); informative share >= 1.5 x uniform's.

    python benchmarks/sim_coverage.py            # ~1 minute
"""

from __future__ import annotations

import sys

import numpy as np

from zpd.sim import RunConfig, preset_config, run_comparison

SEEDS = (0, 1, 2)


def _by_policy(runs: list) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in dict.fromkeys(r.policy for r in runs):
        mine = [r for r in runs if r.policy == name]
        out[name] = {key: np.array([getattr(r, key) for r in mine], dtype=np.float64)
                     for key in ("informative_fraction", "late_informative", "mid_informative",
                                 "max_window_share", "first_visit_ece", "first_visit_bias",
                                 "distinct", "near_impossible_share")}
    return out


def _table(stats: dict[str, dict[str, np.ndarray]]) -> str:
    head = (f"{'policy':<9}{'informative':>13}{'mid':>8}{'late 30%':>10}{'max share':>11}"
            f"{'distinct (min)':>17}{'1st-visit ECE':>15}{'bias':>8}{'near-imp':>10}")
    lines = [head, "-" * len(head)]
    for name, s in stats.items():
        lines.append(
            f"{name:<9}{s['informative_fraction'].mean():>13.3f}{s['mid_informative'].mean():>8.3f}"
            f"{s['late_informative'].mean():>10.3f}{s['max_window_share'].max():>11.3f}"
            f"{s['distinct'].mean():>10.0f} ({s['distinct'].min():.0f})"
            f"{s['first_visit_ece'].mean():>15.3f}{s['first_visit_bias'].mean():>+8.3f}"
            f"{s['near_impossible_share'].mean():>10.3f}")
    return "\n".join(lines)


def _check(name: str, value: float, floor: float, at_least: bool) -> bool:
    ok = value >= floor if at_least else value <= floor
    op = ">=" if at_least else "<="
    print(f"{'PASS' if ok else 'FAIL'}  {name:<52} {value:8.3f}  (floor {op} {floor})")
    return ok


def _world(preset: str, policies: tuple[str, ...], window: int) -> dict[str, dict[str, np.ndarray]]:
    """Run ``policies`` in ``preset`` over the seeds; print its header and table."""
    world = preset_config(preset)
    runs = run_comparison(world, RunConfig(policies=policies, seeds=SEEDS,
                                           coverage_window=window))
    print(f"\n== {preset}: {world.num_items:,} items, {world.steps} steps, "
          f"B={world.batch_size}, {len(SEEDS)} seeds")
    stats = _by_policy(runs)
    print(_table(stats))
    return stats


def endogenous() -> bool:
    s = _world("endogenous", ("uniform", "mopps", "oracle", "zpd"), 100)
    z, o = s["zpd"], s["oracle"]
    return all([
        _check("late informative share vs oracle", z["late_informative"].mean()
               / o["late_informative"].mean(), 0.8, True),
        _check("largest share of a 100-step window's batches", z["max_window_share"].max(),
               0.25, False),
        _check("first-visit calibration error (pass rate)", z["first_visit_ece"].mean(), 0.1,
               False),
    ])


def small_pool() -> bool:
    s = _world("small-pool", ("uniform", "mopps", "greso", "oracle", "zpd"), 8)
    z, u = s["zpd"], s["uniform"]
    return all([
        _check("most draws of any 8 consecutive one prompt is in", 8 * z["max_window_share"].max(),
               3, False),
        _check("distinct prompts in the first 240 picks (mean)", z["distinct"].mean(), 100, True),
        _check("informative share vs uniform", z["informative_fraction"].mean()
               / u["informative_fraction"].mean(), 1.5, True),
    ])


def main() -> int:
    results = [endogenous(), small_pool()]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
