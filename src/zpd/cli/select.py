"""``zpd select``: keep a fraction of a dataset by EL2N, forgetting or LESS scores.

What it is: the argparse front of :func:`zpd.data.select` (and of :func:`zpd.data.less.warmup`
with ``--warmup``). What it is not: the scoring (``zpd.data.selection``, ``zpd.data.less``).
"""

from __future__ import annotations

import argparse
from typing import Any

from zpd.data.cliargs import (
    add_fields,
    add_run,
    guarded,
    quiet_transformers,
    ray_config,
    run_config,
)

EPILOG = """\
examples:
  zpd select train.jsonl --method el2n --model ./ckpt_seed0 --model ./ckpt_seed1 \\
      --strategy hard --fraction 0.5 --out kept.jsonl
  zpd select train.jsonl --method forgetting --model ./step100 --model ./step200 --model ./step300 \\
      --strategy easy --fraction 0.7 --out kept.jsonl
  zpd select train.jsonl --method less --warmup ./less_ckpts --model ./base \\
      --targets val.jsonl --target-subset-field task --fraction 0.05 --out kept.jsonl

Scores go to OUT.scores.jsonl (resumable), a report to OUT.report.json. Higher score = harder
(EL2N, forgetting) or more aligned with the targets (LESS); --strategy hard keeps the highest.
LESS: --warmup DIR first trains a copy of --model with Adam on a random 5% (--warmup-fraction)
(all weights, or LoRA adapters with --lora-rank R: LESS's choice for large models) and scores
with the epoch checkpoints in DIR; without --warmup, every --model is a checkpoint (with
adam_state.safetensors for Adam-preconditioned features).
Python: zpd.data.select(...), zpd.data.less.warmup(...)
"""


def _warmup(args: argparse.Namespace, less_cfg: Any) -> list[str]:
    from zpd.data.io import FieldSpec, Item, iter_items
    from zpd.data.less import warmup
    from zpd.data.selection import keep_indices

    if len(args.model) != 1:
        raise ValueError("--warmup trains one model: pass exactly one --model")
    spec = FieldSpec(required=(("prompt", args.prompt_field), ("answer", args.answer_field)))
    items = [it for it in iter_items(args.data, spec, on_error=args.on_error, split=args.split)
             if isinstance(it, Item)]
    pick = keep_indices([0.0] * len(items), args.warmup_fraction, "random", args.seed)
    lora = None
    if args.lora_rank:
        from zpd.data.lora import LoraConfig

        lora = LoraConfig(r=args.lora_rank, alpha=2.0 * args.lora_rank, seed=args.seed)
    ckpts = warmup(args.model[0], [str(items[i].text["prompt"]) for i in pick],
                   [str(items[i].text["answer"]) for i in pick], args.warmup,
                   epochs=args.warmup_epochs, lr=args.warmup_lr, seed=args.seed,
                   device=args.device, config=less_cfg, lora=lora, progress=not args.quiet)
    return [c.model for c in ckpts]


def _run(args: argparse.Namespace) -> Any:
    quiet_transformers()
    if args.batch_rows is None:
        args.batch_rows = 8 if args.method == "less" else 256
    from zpd.data.less import LessConfig
    from zpd.data.subset import TargetSpec, select

    less_cfg = LessConfig(proj_dim=args.proj_dim, projection=args.projection, seed=args.seed,
                          param_pattern=args.param_pattern)
    models = list(args.model)
    if args.method == "less" and args.warmup:
        models = _warmup(args, less_cfg)
    targets = None
    if args.targets:
        targets = TargetSpec(args.targets, prompt_field=args.prompt_field,
                             answer_field=args.answer_field, subset_field=args.target_subset_field)
    return select(args.data, args.out, method=args.method, models=models,
                  fraction=args.fraction, strategy=args.strategy, seed=args.seed,
                  prompt_field=args.prompt_field, answer_field=args.answer_field,
                  id_field=args.id_field, targets=targets, less=less_cfg,
                  threshold=args.threshold, run=run_config(args), device=args.device,
                  dtype=args.dtype, bos=args.bos, ray=ray_config(args))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd select`` on ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "select", help="keep a fraction of a dataset by EL2N, forgetting or LESS",
        description="Score a dataset with EL2N (arXiv 2107.07075), forgetting events (arXiv "
                    "1812.05159) or LESS gradient similarity (arXiv 2402.04333) and keep a "
                    "fraction: the easiest, the hardest, or a random subset.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="dataset: .jsonl, .parquet or a datasets directory")
    p.add_argument("--method", required=True, choices=("el2n", "forgetting", "less"))
    p.add_argument("--model", action="append", required=True,
                   help="model / checkpoint directory (repeat; forgetting: in training order)")
    p.add_argument("--fraction", type=float, required=True, help="share of rows to keep, (0, 1]")
    p.add_argument("--strategy", default="hard", choices=("easy", "hard", "random"),
                   help="keep the lowest (easy), highest (hard, default) or random scores")
    p.add_argument("--out", required=True, help="kept rows (JSONL)")
    p.add_argument("--seed", type=int, default=0, help="seed of random keep / projection")
    p.add_argument("--threshold", type=float, default=1.0,
                   help="forgetting: answer-token accuracy that counts as learned (default 1.0)")
    add_fields(p, category=False)
    g = p.add_argument_group("LESS")
    g.add_argument("--targets", default=None, help="target (validation) examples file")
    g.add_argument("--target-subset-field", default=None, help="column naming target subsets")
    g.add_argument("--proj-dim", type=int, default=2048, help="projection dimension")
    g.add_argument("--projection", choices=("sparse", "rademacher"), default="sparse",
                   help="sparse (default: a sparse JL transform, 23x faster per row on the lab "
                        "model at --proj-dim 2048) or rademacher (the paper's dense matrix)")
    g.add_argument("--param-pattern", default=None,
                   help="regex: only these parameters give gradient features (large models)")
    g.add_argument("--warmup", default=None, help="train warm-up checkpoints into this folder")
    g.add_argument("--warmup-fraction", type=float, default=0.05, help="warm-up share (0.05)")
    g.add_argument("--warmup-epochs", type=int, default=4, help="warm-up epochs (4)")
    g.add_argument("--warmup-lr", type=float, default=2e-5, help="warm-up learning rate (2e-5)")
    g.add_argument("--lora-rank", type=int, default=0,
                   help="warm up LoRA adapters of this rank instead of all weights (large models)")
    add_run(p, batch_rows=None,
            batch_rows_help="rows per scoring batch, each written durably and counted on the "
                            "progress bar (default 256; 8 for --method less, whose rows take "
                            "~50 ms each, so the bar moves)")
    p.set_defaults(func=guarded("zpd select", _run))
    return p
