"""``zpd proxy``: generate from a base model steered by proxy tuning (arXiv 2401.08565).

What it is: the argparse front of :func:`zpd.data.proxy_generate` — logits
base + alpha * (expert - anti-expert). What it is not: the logits processor (``zpd.data.proxy``).
"""

from __future__ import annotations

import argparse
from typing import Any

from zpd.data.cliargs import add_run, guarded, quiet_transformers, ray_config, run_config

EPILOG = """\
examples:
  zpd proxy --base ./big --expert ./small_tuned --anti-expert ./small --prompt "12+34="
  zpd proxy --base ./big --expert ./small_tuned --anti-expert ./small --alpha 0.5 \\
      --data prompts.jsonl --out generations.jsonl --max-new-tokens 64 --stop "\\n"

With --data the generations go to --out like every scorer's results: validated first, written per
batch, resumable, with progress (--batch-rows, --split, --threads, --dtype, --bos, --ray).
The three models must share one tokenizer. In Python, pass
zpd.data.ProxyTuningLogitsProcessor(expert, anti_expert, alpha, pad_token_id=base's pad id) to
base.generate(logits_processor=[...]); zpd.data.proxy.ProxyTask runs a file.
"""


def _run(args: argparse.Namespace) -> Any:
    quiet_transformers()
    from zpd.data.errors import DataError
    from zpd.data.model_io import check_model_dir, load_model
    from zpd.data.proxy import ProxyTask, proxy_generate

    if (args.prompt is None) == (args.data is None):
        raise DataError("give exactly one of --prompt TEXT or --data FILE")
    if args.data is not None and args.out is None:
        raise DataError("--data needs --out for the generations")
    for path in (args.base, args.expert, args.anti_expert):
        check_model_dir(path)
    task = ProxyTask(base=args.base, expert=args.expert, anti_expert=args.anti_expert,
                     alpha=args.alpha, max_new_tokens=args.max_new_tokens,
                     temperature=args.temperature, top_p=args.top_p, stop=tuple(args.stop),
                     seed=args.seed, device=args.device, dtype=args.dtype, bos=args.bos)
    if args.prompt is not None:
        models = (load_model(p, device=args.device, dtype=args.dtype, bos=args.bos)
                  for p in (args.base, args.expert, args.anti_expert))
        texts = proxy_generate(*models, [args.prompt], alpha=args.alpha,
                               max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                               top_p=args.top_p, stop=tuple(args.stop), seed=args.seed)
        return {"generations": texts}
    from zpd.data.io import FieldSpec
    from zpd.data.pipeline import run_file
    from zpd.data.ray_backend import executor_for

    spec = FieldSpec(required=(("prompt", args.prompt_field),), id=args.id_field)
    summary = run_file(args.data, spec, args.out, task, run_config(args),
                       executor=executor_for(ray_config(args)), desc="proxy")
    return {"out": args.out, **summary.as_dict()}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd proxy`` on ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "proxy", help="decoding-time proxy tuning: base + alpha * (expert - anti-expert)",
        description="Generate from a base model with logits base + alpha x (expert - "
                    "anti-expert) (proxy tuning, arXiv 2401.08565).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="base model directory")
    p.add_argument("--expert", required=True, help="tuned small model directory")
    p.add_argument("--anti-expert", required=True, help="untuned small model directory")
    p.add_argument("--alpha", type=float, default=1.0, help="steer strength (default 1.0)")
    p.add_argument("--prompt", default=None, help="one prompt")
    p.add_argument("--data", default=None, help="or a dataset of prompts")
    p.add_argument("--prompt-field", default="prompt", help="prompt column (default: prompt)")
    p.add_argument("--id-field", default=None, help="item id column (default: the row number)")
    p.add_argument("--out", default=None,
                   help="generations JSONL with --data (resumable, sidecar .meta.json; one "
                        "record per row: row, id, prompt, generation)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--stop", action="append", default=[], help="cut generations here")
    p.add_argument("--seed", type=int, default=0,
                   help="sampling seed (a batch's seed is this + its first row)")
    add_run(p, batch_rows=16)  # resume, batches, progress, threads, device, dtype, bos, Ray
    p.add_argument("--split", default=None, help="split of a datasets DatasetDict directory")
    p.set_defaults(func=guarded("zpd proxy", _run))
    return p
