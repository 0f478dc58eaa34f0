"""``zpd score difficulty|distance``: per-item difficulty or distance of a dataset under a model.

What it is: the argparse front of :func:`zpd.data.score_difficulty` and
:func:`zpd.data.score_distance`. What it is not: the scoring (``zpd.data``); torch is imported only
when a command runs.
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
    warn_completion_only,
)

DIFFICULTY_EPILOG = """\
examples:
  zpd score difficulty train.jsonl --model ./base --out diff.jsonl --k 8 --verifier numeric
  zpd score difficulty train.parquet --model ./base --out diff.jsonl --stop "\\n" --max-new-tokens 16
  zpd score difficulty data_dir --model ./base --out diff.jsonl --verifier mypkg.checks:verify
  zpd score difficulty train.jsonl --model ./base --out diff.jsonl --ray --ray-workers 8 --ray-gpus 1

Rerun the same command after an interruption: finished rows are kept, the rest is scored.
Python: zpd.data.score_difficulty(...); zpd.data.warm_start("diff.jsonl", policy="zpd")
"""

DISTANCE_EPILOG = """\
examples:
  zpd score distance train.jsonl --model ./base --out dist.jsonl
  zpd score distance train.jsonl --model ./base --out dist.jsonl --no-reverse --batch-tokens 8192

Each record: nll/ppl of the prompt and of the answer (alone and given the prompt), ifd =
PPL(y|x)/PPL(y) (arXiv 2308.12032) and rifd = PPL(x|y)/PPL(x) (arXiv 2402.10110).
Python: zpd.data.score_distance(...)
"""


def _difficulty(args: argparse.Namespace) -> Any:
    quiet_transformers()
    from zpd.data.difficulty import DifficultyConfig, score_difficulty
    from zpd.data.sampling import SamplingConfig

    sampling = SamplingConfig(k=args.k, temperature=args.temperature, top_p=args.top_p,
                              max_new_tokens=args.max_new_tokens, stop=tuple(args.stop),
                              batch_prompts=args.batch_prompts, seed=args.seed)
    cfg = DifficultyConfig(sampling=sampling, verifier=args.verifier, interval=args.interval,
                           confidence=args.confidence, keep_completions=args.keep_completions)
    summary = score_difficulty(args.data, args.model, args.out, prompt_field=args.prompt_field,
                               answer_field=args.answer_field, id_field=args.id_field,
                               category_field=args.category_field, config=cfg,
                               run=run_config(args), backend=args.backend, device=args.device,
                               dtype=args.dtype, bos=args.bos, ray=ray_config(args))
    return {"out": args.out, **summary.as_dict()}


def _distance(args: argparse.Namespace) -> Any:
    quiet_transformers()
    from zpd.data.distance import DistanceConfig, score_distance

    cfg = DistanceConfig(batch_tokens=args.batch_tokens, max_length=args.max_length,
                         reverse=not args.no_reverse, reverse_template=args.reverse_template)
    warn_completion_only("zpd score distance", args.model)
    summary = score_distance(args.data, args.model, args.out, prompt_field=args.prompt_field,
                             answer_field=args.answer_field, id_field=args.id_field,
                             category_field=args.category_field, config=cfg,
                             run=run_config(args), device=args.device, dtype=args.dtype, bos=args.bos,
                             ray=ray_config(args))
    return {"out": args.out, **summary.as_dict()}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset: .jsonl, .parquet or a datasets save_to_disk directory")
    p.add_argument("--model", required=True, help="local Hugging Face causal LM directory")
    p.add_argument("--out", required=True, help="result JSONL (resumable; sidecar .meta.json)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd score`` (difficulty, distance) on ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "score", help="score a dataset's difficulty or distance under a model",
        description="Score every item of a dataset relative to a model.",
        epilog="examples:\n  zpd score difficulty train.jsonl --model ./base --out d.jsonl\n"
               "  zpd score distance train.jsonl --model ./base --out n.jsonl\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(title="what to score", metavar="KIND")
    d = sub.add_parser("difficulty", help="pass rate per item from k sampled, verified completions",
                       description="pass@k per item: sample k completions, verify each, write the "
                                   "pass rate with an interval.",
                       epilog=DIFFICULTY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(d)
    add_fields(d)
    g = d.add_argument_group("sampling and verification")
    g.add_argument("--k", type=int, default=8, help="completions per prompt (default 8)")
    g.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default 1.0)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus mass (default 1.0)")
    g.add_argument("--max-new-tokens", type=int, default=32, help="completion length (default 32)")
    g.add_argument("--stop", action="append", default=[], help="cut completions here (repeatable)")
    g.add_argument("--batch-prompts", type=int, default=32, help="prompts per generate call")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    g.add_argument("--verifier", default="exact", help="exact (default), numeric, module:function")
    g.add_argument("--interval", default="wilson", choices=("wilson", "jeffreys",
                                                            "clopper-pearson"))
    g.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    g.add_argument("--keep-completions", action="store_true", help="store completions too")
    g.add_argument("--backend", default="transformers", choices=("transformers", "vllm"),
                   help="generation backend (vllm needs a CUDA machine with vllm installed)")
    add_run(d, batch_rows=64)
    d.set_defaults(func=guarded("zpd score difficulty", _difficulty))
    n = sub.add_parser("distance", help="NLL/PPL of prompt and answer under a base model, IFD",
                       description="Distance from pre-training: per-item NLL and perplexity, IFD "
                                   "and reversed IFD under a base model.",
                       epilog=DISTANCE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(n)
    add_fields(n)
    g = n.add_argument_group("scoring")
    g.add_argument("--batch-tokens", type=int, default=None,
                   help="padded tokens per forward pass (default: logits fit in ~256 MiB)")
    g.add_argument("--max-length", type=int, default=None, help="cut longer sequences")
    g.add_argument("--no-reverse", action="store_true", help="skip PPL(x|y) and rifd")
    g.add_argument("--reverse-template", default="{answer}",
                   help="text before the prompt for PPL(x|y); contains {answer}")
    add_run(n, batch_rows=1024)
    n.set_defaults(func=guarded("zpd score distance", _distance))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser
