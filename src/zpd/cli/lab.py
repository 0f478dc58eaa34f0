"""``zpd lab pretrain|rl|eval``: the lab's steps one at a time.

What it is: the argparse front of :mod:`zpd.lab.pretrain` (train or reuse a base), :mod:`zpd.lab.rl`
(GRPO under one curriculum policy on the demo's pool), an evaluation of a checkpoint on the
pool's held-out sets, and :mod:`zpd.lab.proof` (the monitors' lab proof). Flags map onto ``PretrainConfig`` / ``RLConfig`` fields. What it is not: the
lab itself; torch and the lab are imported inside the handlers so that ``zpd --help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from zpd.core.atomic import strict_dumps
from zpd.data.cliargs import add_threads, apply_threads

DESCRIPTION = """\
The lab one step at a time: a tiny char-level GPT pretrained from scratch on synthetic digit
tasks (pretrain), GRPO on the demo's pool with prompts chosen by a zpd.Curriculum policy (rl),
and held-out accuracy of any saved checkpoint (eval). `zpd demo` runs all of it for four policies.
"""

EPILOG = """\
examples:
  zpd lab pretrain --out /tmp/base                   train the default base (~4 min on 2 cores)
  zpd lab pretrain --preset tiny --steps 200 --out /tmp/tiny
  zpd lab rl --base /tmp/base/final --policy zpd --budget 8192 --out /tmp/rl-zpd
  zpd lab rl --base /tmp/base/final --policy dapo --kl 0.05 --advantage dr_grpo --out /tmp/rl
  zpd lab eval --model /tmp/rl-zpd/model             held-out accuracy per set
  zpd lab proof --out /tmp/proof                     the shortcut lab: GRPO vs zpd on a rewarded shortcut
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd lab`` and its subcommands on ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lab",
        help="tiny GPT on digit tasks: pretrain, GRPO under a curriculum, evaluate",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    sub = parser.add_subparsers(title="lab commands", metavar="STEP")
    _add_pretrain(sub)
    _add_rl(sub)
    _add_eval(sub)
    _add_proof(sub)
    return parser


def _sub(sub: Any, name: str, help_: str, examples: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog=f"examples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def _add_pretrain(sub: Any) -> None:
    p = _sub(sub, "pretrain", "train (or resume, or reuse) the base model",
             "  zpd lab pretrain --out /tmp/base\n  zpd lab pretrain --steps 300 --preset tiny\n")
    add = p.add_argument
    add("--out", default=None, help="output folder (default: the cache, $ZPD_CACHE_DIR)")
    add("--steps", type=int, default=1500, help="optimizer steps (default 1500)")
    add("--batch-size", type=int, default=128, help="sequences per step (default 128)")
    add("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    add("--preset", default="small", help="tiny, small (default) or base")
    add("--label-noise", type=float, default=None,
        help="share of corrupted answers in the noisy blocks (default: the mix's 0.5)")
    add("--seed", type=int, default=0, help="seed (default 0)")
    add("--eval-every", type=int, default=0, help="held-out eval every N steps (default: end)")
    add("--eval-items", type=int, default=24, help="held-out items per eval cell (default 24)")
    add("--no-progress", action="store_true", help="no progress bar")
    add_threads(p)
    p.set_defaults(func=_threaded(_run_pretrain))


def _add_rl(sub: Any) -> None:
    p = _sub(sub, "rl", "GRPO from a base on the demo's pool under one curriculum policy",
             "  zpd lab rl --base /tmp/base/final --policy zpd --out /tmp/rl\n")
    add = p.add_argument
    add("--base", required=True, help="base checkpoint folder (.../final)")
    add("--out", required=True, help="output folder (metrics.jsonl, run.json, model/)")
    add("--policy", default="zpd", help="curriculum policy (default zpd)")
    add("--budget", type=int, default=6144, help="rollouts, dropped ones included (default 6144)")
    add("--group-size", type=int, default=8, help="G, samples per prompt (default 8)")
    add("--prompts", type=int, default=16, help="prompts per step (default 16)")
    add("--lr", type=float, default=3e-5, help="learning rate (default 3e-5)")
    add("--kl", type=float, default=0.0, help="KL-to-base coefficient (default 0)")
    add("--advantage", default="grpo", help="grpo (default), dr_grpo or tracker")
    add("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    add("--eval-every", type=int, default=4, help="held-out eval every N steps (default 4)")
    add("--seed", type=int, default=0, help="seed (default 0)")
    add("--pool-seed", type=int, default=0, help="seed of the pool and eval sets (default 0)")
    add("--eval-items", type=int, default=128, help="held-out items per eval set (default 128)")
    add("--no-save", action="store_true", help="do not save the trained model")
    add_threads(p)
    p.set_defaults(func=_threaded(_run_rl))


def _add_eval(sub: Any) -> None:
    p = _sub(sub, "eval", "held-out accuracy of a checkpoint on the pool's eval sets",
             "  zpd lab eval --model /tmp/base/final\n")
    add = p.add_argument
    add("--model", required=True, help="checkpoint folder (config.json + model.safetensors)")
    add("--pool-seed", type=int, default=0, help="seed of the pool and eval sets (default 0)")
    add("--seed", type=int, default=0, help="sampling seed (default 0)")
    add("--eval-items", type=int, default=128, help="held-out items per eval set (default 128)")
    add("--json", action="store_true", help="print JSON")
    add_threads(p)
    p.set_defaults(func=_threaded(_run_eval))


def _add_proof(sub: Any) -> None:
    p = _sub(sub, "proof",
             "the shortcut lab: hard items reward an echo shortcut; plain GRPO, Dr. GRPO, band-only "
             "GRPO and zpd arms with every monitor, >= 3 seeds",
             "  zpd lab proof --out /tmp/proof                   7 arms x 3 seeds (~20 min)\n"
             "  zpd lab proof --out /tmp/p --seeds 1 --budget 1024 --arms grpo-hard-q50,zpd-mixed\n"
             "  zpd lab proof --out /tmp/proof --report zpd-demo/report.html\n")
    add = p.add_argument
    add("--out", required=True, help="output folder (proof.html, summary.json, metrics.jsonl)")
    add("--base", default=None, help="base checkpoint folder (default: the design's shipped base)")
    add("--arms", default=("grpo-hard-q0,grpo-hard-q25,grpo-hard-q50,drgrpo-hard-q50,grpo-band,"
                           "zpd-mixed,zpd-hard"),
        help="comma-separated arms: grpo-hard-q0|q25|q50 (plain GRPO on the hard tier, q = "
             "share of palindromes the echo answers), drgrpo-hard-q50, grpo-band, zpd-mixed "
             "(hard q50 + band + easy), zpd-hard, grpo-mixed (default: all but grpo-mixed)")
    add("--seeds", type=int, default=3, help="number of RL seeds 0..N-1 (default 3)")
    add("--budget", type=int, default=3072, help="rollouts per arm and seed (default 3072)")
    add("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    add("--eval-every", type=int, default=4, help="held-out eval every N steps (default 4)")
    add("--design", default="steep", choices=("steep", "ladder"),
        help="steep (default): design 2, the echo is a mode of the base at every rung; ladder: "
             "design 1 on the demo's ladder (docs/lab-proof.md)")
    add("--report", default=None,
        help="also add the proof's section to this lab report (zpd demo's report.html)")
    add("--json", action="store_true", help="print the summary as JSON instead of a table")
    add_threads(p)
    p.set_defaults(func=_threaded(_run_proof))


def _run_proof(args: argparse.Namespace) -> int:
    from zpd.lab.proof import ProofConfig, add_to_report, format_table, run_proof

    try:
        if args.seeds < 1:
            raise ValueError(f"--seeds {args.seeds}: give at least 1 (3 for the proof)")
        if args.report and not os.path.isfile(args.report):
            raise ValueError(f"--report {args.report}: no such file; pass zpd demo's report.html")
        cfg = ProofConfig.design(
            args.design, arms=tuple(a.strip() for a in args.arms.split(",") if a.strip()),
            seeds=tuple(range(args.seeds)), rollout_budget=args.budget, lr=args.lr,
            eval_every=args.eval_every)
        log = (lambda s: print(s, file=sys.stderr)) if args.json else print
        summary = run_proof(cfg, args.out, base_dir=args.base, log=log)
        if args.report:
            log(f"[zpd lab proof] section added to {add_to_report(args.report, summary)}")
    except ValueError as exc:
        return _fail(exc)
    print(strict_dumps(summary, indent=2) if args.json else format_table(summary))
    return 0


def _threaded(fn: Any) -> Any:
    """``fn`` with ``--threads`` applied first (a bad value is one clear line, exit 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            apply_threads(args)
        except ValueError as exc:
            return _fail(exc)
        result: int = fn(args)
        return result

    return run


def _fail(exc: ValueError) -> int:
    print(f"zpd lab: error: {exc}", file=sys.stderr)
    return 2


def _run_pretrain(args: argparse.Namespace) -> int:
    from zpd.lab.pretrain import PretrainConfig, pretrain

    try:
        cfg = PretrainConfig(
            steps=args.steps, batch_size=args.batch_size, lr=args.lr, preset=args.preset,
            label_noise=args.label_noise, seed=args.seed, eval_every=args.eval_every,
            eval_items=args.eval_items,
        )
        path = pretrain(cfg, args.out, progress=not args.no_progress)
    except ValueError as exc:
        return _fail(exc)
    print(f"base model: {path}")
    return 0


def _run_rl(args: argparse.Namespace) -> int:
    from zpd.lab import tasks
    from zpd.lab.experiments import add_heldout, eval_sets
    from zpd.lab.rl import RLConfig, run_rl

    try:
        cfg = RLConfig(
            policy=args.policy, group_size=args.group_size, prompts_per_step=args.prompts,
            rollout_budget=args.budget, lr=args.lr, kl_coef=args.kl, advantage=args.advantage,
            temperature=args.temperature, eval_every=args.eval_every, seed=args.seed,
        )
        pool_cfg = tasks.PoolConfig(n_eval=args.eval_items)
        pool = tasks.make_pool(pool_cfg, seed=args.pool_seed)
        sets = eval_sets(pool)
        tiers = [tasks.BANDS[int(b)] for b in pool.band_of]
        res = run_rl(cfg, args.base, pool.train, args.out, eval_sets=sets, tiers=tiers,
                     save_model=not args.no_save, progress=_rl_progress(cfg.rollout_budget))
    except ValueError as exc:
        return _fail(exc)
    last = add_heldout([r for r in res.rows if "lab/eval/inband/sampled" in r][-1])
    print(f"{res.steps} steps, {res.rollouts} rollouts, {res.seconds:.0f} s; held-out sampled "
          f"accuracy: " + ", ".join(f"{s} {last[f'lab/eval/{s}/sampled']:.3f}" for s in
                                  (*sets, "heldout")))
    print(f"metrics: {res.out_dir / 'metrics.jsonl'}" + (f"; model: {res.model_dir}" if
                                                        res.model_dir else ""))
    return 0


def _rl_progress(total: int) -> Any:
    """A progress callback whose bar appears at the first step (so that an error while loading
    the base is one clean line, not a line glued to an empty bar)."""
    from tqdm.auto import tqdm

    bars: list[Any] = []

    def update(n: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="rollout", unit_scale=True, desc="GRPO"))
        bars[0].update(n)
        if bars[0].n >= total:
            bars[0].close()

    return update


def _run_eval(args: argparse.Namespace) -> int:
    import torch

    from zpd.lab import model as gpt
    from zpd.lab import tasks
    from zpd.lab.experiments import add_heldout, eval_sets
    from zpd.lab.rl import completion_budget, evaluate

    try:
        model, tok = gpt.load_pretrained(args.model)
        pool_cfg = tasks.PoolConfig(n_eval=args.eval_items)
        pool = tasks.make_pool(pool_cfg, seed=args.pool_seed)
        sets = eval_sets(pool)
        budget = completion_budget([it for s in sets.values() for it in s])
        res = add_heldout(evaluate(model, tok, sets, max_new_tokens=budget,
                                   generator=torch.Generator().manual_seed(args.seed)))
    except ValueError as exc:
        return _fail(exc)
    if args.json:
        print(strict_dumps(res, indent=2, sort_keys=True))
        return 0
    print(f"{'set':<10}{'sampled':>10}{'greedy':>10}")
    for s in (*sets, "heldout"):
        print(f"{s:<10}{res[f'lab/eval/{s}/sampled']:>10.3f}{res[f'lab/eval/{s}/greedy']:>10.3f}")
    return 0
