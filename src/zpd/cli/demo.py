"""``zpd demo``: the main job — a tiny GPT on a difficulty ladder, GRPO under every curriculum, one report.

What it is: the argparse front of :func:`zpd.lab.experiments.run_experiment` with the defaults of
:func:`zpd.lab.experiments.demo_config`. What it is not: the experiment itself; torch and the lab
are imported inside ``run`` so that ``zpd --help`` stays instant.
"""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
From nothing: reuses the shipped (or cached) base, or pretrains a 0.6M-parameter char-level GPT
on a difficulty ladder (string reversal of 2-10 digits whose sampled accuracy falls rung by rung),
then runs GRPO on a pool of every rung under two protocols, over three seeds:

  equal-budget    uniform (baseline), mopps, greso, learnability, static, zpd: same rollouts
  filled-batches  dapo (baseline), greso+filter, zpd+filter: every update trains 16 informative
                  groups; every generated rollout is paid for, dropped ones included

Writes a self-contained report.html (the base's pass@1/pass@8 per rung, accuracy vs rollouts,
updates and seconds, accuracy per rung over time, the mean rung chosen, informative groups,
prior-skill retention, coverage, wall-clock split, rollouts-to-target per protocol),
summary.json and the metrics as JSONL and Parquet. An interrupted demo continues where it
stopped (finished arms are reused).

The experiment is a file: the defaults are zpd/lab/configs/demo.toml in the package; --config
runs another one (TOML or JSON, schema in docs/lab-learning.md). About 15 minutes on a 2-core
CPU; --quick about 5.
"""

EPILOG = """\
examples:
  zpd demo                           the full demo into ./zpd-demo
  zpd demo --quick --out /tmp/d      fewer arms and rollouts
  zpd demo --config my.toml          another experiment (copy demo.toml and edit it)
  zpd demo --seeds 5                 five seeds per arm
  zpd demo --policies uniform,zpd    only those arms (each protocol keeps its baseline)
  zpd watch zpd-demo/runs/zpd-s0     health of one arm: shortcuts, drift, collapse, retention
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd demo`` on ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="the lab demo: a tiny GPT on a difficulty ladder, GRPO under every curriculum, report.html",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="shorter demo (<= 5 min on a 2-core CPU)")
    add("--config", default=None, metavar="FILE",
        help="experiment file (TOML or JSON; default: the package's configs/demo.toml)")
    add("--out", default="zpd-demo", help="output folder (default: ./zpd-demo)")
    add("--seeds", type=int, default=None, help="RL seeds per arm (default: the file's, 3)")
    add("--policies", default=None,
        help="comma-separated policies to keep in every protocol (baselines always run)")
    add("--budget", type=int, default=None,
        help="rollouts per arm (default: the file's, 6144; --quick 3072)")
    add("--pretrain-steps", type=int, default=None,
        help="pretraining steps of the base (default: the file's, 2000; the default base ships "
             "with the package, so changing this pretrains a new one)")
    add("--preset", default=None, help="model size: tiny, small (default) or base")
    add("--drift-budget", type=float, default=None,
        help="per-token KL to the base at which the curriculum's drift pressure reaches 1 "
             "(zpd leans to easier items; other policies ignore it). Default: off")
    add("--eval-items", type=int, default=None,
        help="held-out items per rung for RL evaluation (default 40)")
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

    from zpd.lab.experiments import ExperimentConfigError, demo_config, load_experiment

    if args.config is not None and args.quick:
        raise ExperimentConfigError("--config and --quick: give one (quick is a config file too)")
    cfg = (load_experiment(args.config) if args.config is not None
           else demo_config(quick=args.quick))
    if args.seeds is not None:
        if args.seeds < 1:
            raise ExperimentConfigError(f"--seeds {args.seeds}: give a positive number")
        cfg = dataclasses.replace(cfg, seeds=tuple(range(args.seeds)))
    if args.preset is not None:
        cfg = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain,
                                                                     preset=args.preset))
    if args.policies:
        keep = [p.strip() for p in args.policies.split(",") if p.strip()]
        protos = tuple(dataclasses.replace(
            pr, policies=tuple(p for p in pr.policies if p in keep or p == pr.baseline))
            for pr in cfg.protocols)
        for name in keep:  # an unknown name is an error, not silently nothing
            dataclasses.replace(cfg.rl, policy=name)
        cfg = dataclasses.replace(cfg, protocols=protos)
    rl = cfg.rl
    if args.budget is not None:
        rl = dataclasses.replace(rl, rollout_budget=args.budget)
    if args.drift_budget is not None:
        rl = dataclasses.replace(rl, drift_budget=args.drift_budget)
    cfg = dataclasses.replace(cfg, rl=rl)
    if args.eval_items is not None:  # the RL eval sets only: the base (and its cache key) stay
        cfg = dataclasses.replace(cfg, ladder=dataclasses.replace(
            cfg.ladder, eval_per_level=args.eval_items))
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
