"""``zpd sim``: compare curriculum policies on a simulated learner.

What it is: the argparse front of :mod:`zpd.sim` (flags map onto WorldConfig / RunConfig, presets
pick a world, ``--set`` overrides any world field). What it is not: the simulation itself; numpy
and zpd.sim are imported inside ``run`` so that ``zpd --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from zpd.core.atomic import strict_dumps

DESCRIPTION = """\
Compare curriculum policies on a simulated learner: a pool of items with latent difficulty,
per-category abilities that drift upward, practice effects on trained items, items arriving
mid-run with noisy features, and a heavy tail of near-impossible items. Each step a policy samples
B items and G rewards per item are drawn from their true pass rates.

Per policy, mean ± std over seeds:
  informative     share of rolled-out groups with reward variance (the ones GRPO learns from)
  rollouts/inf    rollouts paid per informative group (dapo's dropped rollouts included)
  near-imposs.    share of samples on items with true pass rate < 0.02
  E[p(1-p)]       mean true p(1-p) of samples (0.25 at best)
  new items       share of samples that were an item's first appearance (coverage)
  vs oracle       informative fraction / the oracle's (oracle knows the true pass rates)
  cur s/run       seconds spent inside the curriculum per run
"""

EPILOG = """\
examples:
  zpd sim                                   all policies, default 100k-item world, 3 seeds
  zpd sim --policies uniform,zpd --steps 50 a quick look at two policies
  zpd sim --preset cold-start --floors      another world; check zpd against the floors
  zpd sim --set drift_rate=0.02 --set hard_share=0.4 --json > out.json

presets:
{presets}
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd sim`` on ``subparsers``."""
    from zpd.sim.presets import PRESET_HELP

    presets = "\n".join(
        textwrap.fill(text, width=96, initial_indent=f"  {p.value:<20}", subsequent_indent=" " * 22)
        for p, text in PRESET_HELP.items()
    )
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="compare curriculum policies on a simulated learner",
        description=DESCRIPTION,
        epilog=EPILOG.format(presets=presets),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--preset", default="default", help="named world (see below; default: default)")
    add("--items", type=int, help="items in the pool by the end of the run (default 100000)")
    add("--steps", type=int, help="training steps (default 200)")
    add("--batch", type=int, help="items sampled per step, B (default 256)")
    add("--group-size", type=int, help="rollouts per item, G (default 8)")
    add("--seeds", type=int, default=3, help="number of seeds, 0..N-1 (default 3)")
    add("--policies", default=None,
        help="comma-separated policies (default: all: uniform,dapo,greso,mopps,learnability,"
             "static,oracle,zpd)")
    add("--max-rounds", type=int, default=10,
        help="dapo: most sampling rounds per step to fill a batch (default 10)")
    add("--set", action="append", default=[], metavar="FIELD=VALUE",
        help="override any world field, e.g. drift_rate=0.02 (repeatable)")
    add("--floors", action="store_true",
        help="check zpd against the floors; exit 1 if one fails")
    add("--json", action="store_true", help="print JSON to stdout instead of the table")
    add("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)
    return parser


def _world_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from zpd.sim.errors import SimConfigError

    out: dict[str, Any] = {}
    flags = {"items": "num_items", "steps": "steps", "batch": "batch_size",
             "group_size": "group_size"}
    for flag, field_name in flags.items():
        if getattr(args, flag) is not None:
            out[field_name] = getattr(args, flag)
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SimConfigError(f"--set {item!r}: write FIELD=VALUE, e.g. drift_rate=0.02")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _progress(total_runs: int) -> Any:
    tty = sys.stderr.isatty()
    done = {"runs": 0}

    def report(policy: str, seed: int, step: int, steps: int) -> None:
        if tty and step % 10 == 0 and step < steps:
            print(f"\r[{done['runs'] + 1:>3}/{total_runs}] {policy} seed {seed}: "
                  f"step {step}/{steps}   ", end="", file=sys.stderr, flush=True)
        if step == steps:
            done["runs"] += 1
            line = f"[{done['runs']:>3}/{total_runs}] {policy} seed {seed}: done"
            if tty:
                print(f"\r{line:<60}", end="", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)
    return report


def run(args: argparse.Namespace) -> int:
    """Run the comparison and print the table (or JSON); 1 if --floors and one fails."""
    from zpd.sim.errors import SimConfigError
    from zpd.sim.presets import preset_config
    from zpd.sim.report import check_floors, format_floors, format_table, summarize, to_json
    from zpd.sim.runner import ALL_POLICIES, RunConfig, run_comparison

    try:
        world = preset_config(args.preset, **_world_overrides(args))
        policies = ALL_POLICIES if not args.policies else tuple(
            p.strip() for p in args.policies.split(",") if p.strip())
        if args.seeds < 1:
            raise SimConfigError(f"--seeds {args.seeds}: give at least 1")
        run_cfg = RunConfig(policies=policies, seeds=tuple(range(args.seeds)),
                            max_rounds=args.max_rounds)
    except ValueError as err:
        print(f"zpd sim: error: {err}", file=sys.stderr)
        return 2
    progress = None if args.quiet else _progress(len(policies) * args.seeds)
    runs = run_comparison(world, run_cfg, progress=progress)
    if progress is not None and sys.stderr.isatty():
        print(file=sys.stderr)
    summaries = summarize(runs)
    checks = check_floors(summaries) if args.floors else []
    if args.json:
        out = to_json(world, run_cfg, summaries)
        out["floors"] = [{"name": c.name, "value": c.value, "threshold": c.threshold,
                          "passed": c.passed} for c in checks]
        print(strict_dumps(out, indent=2))
    else:
        print(f"world: preset {args.preset}, {world.num_items} items "
              f"({world.arriving_items} arriving mid-run), {world.steps} steps, "
              f"B={world.batch_size}, G={world.group_size}, {args.seeds} seed(s)")
        print(format_table(summaries))
        if checks:
            print()
            print(format_floors(checks))
    return 1 if any(not c.passed for c in checks) else 0
