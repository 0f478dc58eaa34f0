"""``zpd demo``: the main job — pretrain a tiny GPT, GRPO under four curricula, one HTML report.

What it is: the argparse front of :func:`zpd.lab.experiments.run_experiment` with the defaults of
:func:`zpd.lab.experiments.demo_config`. What it is not: the experiment itself; torch and the lab
are imported inside ``run`` so that ``zpd --help`` stays instant.
"""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
From nothing: pretrains a 0.6M-parameter char-level GPT on digit tasks (or reuses the cached
base), then runs GRPO on one pool mixing items too easy, in band and too hard for that base,
with prompts chosen by the uniform, dapo, mopps and zpd curricula, under the same rollout budget
(dapo's dropped rollouts count), over several seeds. Writes a self-contained report.html (accuracy
vs rollouts, informative-group fraction, the difficulty band over time, prior-skill retention,
shortcut rate, KL to the base, a rollouts-to-target table) and the metrics as JSONL and Parquet.

Defaults take about 15 minutes on a 2-core CPU including pretraining (about 10 with a cached
base); --quick about 5. The base is cached in $ZPD_CACHE_DIR or ~/.cache/zpd/bases.
"""

EPILOG = """\
examples:
  zpd demo                         the full demo into ./zpd-demo
  zpd demo --quick --out /tmp/d    a shorter run (fewer pretraining steps and rollouts)
  zpd demo --seeds 3               three seeds per policy
  zpd demo --policies uniform,zpd  only two arms
  zpd watch zpd-demo/runs/zpd-s0   health of one arm: shortcuts, drift, collapse, retention
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd demo`` on ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="pretrain a tiny GPT, GRPO under 4 curricula, write report.html",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="shorter demo (<= 5 min on a 2-core CPU)")
    add("--out", default="zpd-demo", help="output folder (default: ./zpd-demo)")
    add("--seeds", type=int, default=2, help="RL seeds per policy (default 2)")
    add("--policies", default=None,
        help="comma-separated curriculum policies (default: uniform,dapo,mopps,zpd)")
    add("--budget", type=int, default=None,
        help="rollouts per arm (default 6144; --quick 2048)")
    add("--pretrain-steps", type=int, default=None,
        help="pretraining steps of the base (default 1500; --quick 700)")
    add("--preset", default=None, help="model size: tiny, small (default) or base")
    add("--drift-budget", type=float, default=None,
        help="per-token KL to the base at which the curriculum's drift pressure reaches 1 "
             "(zpd leans to easier items; other policies ignore it). Default: off")
    add("--eval-items", type=int, default=None,
        help="held-out items per RL eval set (default 128); pretraining evaluates min(N, 24) "
             "per op/format/digits cell")
    add("--base-dir", default=None,
        help="pretrain into / reuse this folder instead of the cache")
    add("--threads", type=int, default=None,
        help="torch CPU threads (default: torch's choice; 1 is faster on a busy shared CPU)")
    add("--no-monitors", action="store_true",
        help="skip the health monitors (shortcuts, drift, collapse, retention) on every arm; "
             "they cost the base model's forward pass on each rollout")
    add("--no-progress", action="store_true", help="no progress bars (log lines instead)")
    parser.set_defaults(func=run)
    return parser


def build_config(args: argparse.Namespace) -> Any:
    """The ExperimentConfig the flags describe."""
    import dataclasses

    from zpd.lab.experiments import demo_config

    cfg = demo_config(quick=args.quick, seeds=args.seeds, preset=args.preset)
    if args.policies:
        cfg = dataclasses.replace(cfg, policies=tuple(p.strip() for p in args.policies.split(",")))
    if args.budget is not None:
        cfg = dataclasses.replace(cfg, rl=dataclasses.replace(cfg.rl, rollout_budget=args.budget))
    if args.drift_budget is not None:
        rl = dataclasses.replace(cfg.rl, drift_budget=args.drift_budget)
        cfg = dataclasses.replace(cfg, rl=rl)
    if args.eval_items is not None:
        pool = dataclasses.replace(cfg.pool, n_eval=args.eval_items)
        pre = dataclasses.replace(cfg.pretrain, eval_items=min(args.eval_items, 24))
        cfg = dataclasses.replace(cfg, pool=pool, pretrain=pre)
    if args.pretrain_steps is not None:
        pre = dataclasses.replace(cfg.pretrain, steps=args.pretrain_steps)
        cfg = dataclasses.replace(cfg, pretrain=pre)
    if args.no_monitors:
        cfg = dataclasses.replace(cfg, monitors=False)
    return cfg


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where the report is."""
    import sys

    from zpd.lab.experiments import run_experiment

    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    try:
        cfg = build_config(args)
        path = run_experiment(cfg, args.out, progress=not args.no_progress,
                              base_dir=args.base_dir)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path.resolve()}")
    return 0
