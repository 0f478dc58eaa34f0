"""Floors of the zpd policy on the simulated learner, against baselines run in the same process.

Runs every policy over 3 seeds on a 100k-item world with drift and mid-run arrivals (the default
preset; pick others with --preset), prints the table and each floor with PASS/FAIL:
zpd informative fraction >= 0.75 x oracle, >= 1.5 x uniform, >= 1.1 x mopps; near-impossible
share <= 5 %.

    python benchmarks/sim_policies.py                        # default world (~2 minutes)
    python benchmarks/sim_policies.py --preset cold-start steep-drift
    python benchmarks/sim_policies.py --all-presets --seeds 2
"""

from __future__ import annotations

import argparse
import sys
import time

from zpd.sim import (
    RunConfig,
    check_floors,
    format_floors,
    format_table,
    preset_config,
    run_comparison,
    summarize,
)
from zpd.sim.presets import Preset

FLOOR_POLICIES = ("uniform", "mopps", "oracle", "zpd")


def run_preset(preset: str, seeds: int, policies: tuple[str, ...]) -> bool:
    world = preset_config(preset)
    t0 = time.perf_counter()
    runs = run_comparison(world, RunConfig(policies=policies, seeds=tuple(range(seeds))))
    summaries = summarize(runs)
    print(f"\n== preset {preset}: {world.num_items:,} items ({world.arriving_items:,} arriving "
          f"mid-run), {world.steps} steps, B={world.batch_size}, G={world.group_size}, "
          f"{seeds} seeds, {time.perf_counter() - t0:.0f} s")
    print(format_table(summaries))
    checks = check_floors(summaries)
    print(format_floors(checks))
    return all(c.passed for c in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", nargs="+", default=["default"])
    parser.add_argument("--all-presets", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--floors-only", action="store_true",
                        help=f"run only {', '.join(FLOOR_POLICIES)} (faster)")
    args = parser.parse_args()
    # small-pool has floors of its own (benchmarks/sim_coverage.py): there the oracle trains
    # 44 prompts over and over, which is the fixation the repeat cap exists to prevent.
    presets = ([p.value for p in Preset if p is not Preset.SMALL_POOL] if args.all_presets
               else args.preset)
    policies = FLOOR_POLICIES if args.floors_only else RunConfig().policies
    results = {p: run_preset(p, args.seeds, policies) for p in presets}
    print()
    for preset, ok in results.items():
        print(f"{'PASS' if ok else 'FAIL'}  all floors, preset {preset}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
