"""``zpd proxy``: generate from a base model steered by proxy tuning (arXiv 2401.08565).

What it is: the argparse front of :func:`zpd.data.proxy_generate` — logits
base + alpha * (expert - anti-expert). What it is not: the logits processor (``zpd.data.proxy``).
"""

from __future__ import annotations

import argparse
from typing import Any

from zpd.data.cliargs import add_threads, guarded, quiet_transformers

EPILOG = """\
examples:
  zpd proxy --base ./big --expert ./small_tuned --anti-expert ./small --prompt "12+34="
  zpd proxy --base ./big --expert ./small_tuned --anti-expert ./small --alpha 0.5 \\
      --data prompts.jsonl --out generations.jsonl --max-new-tokens 64 --stop "\\n"

The three models must share one tokenizer. In Python, pass
zpd.data.ProxyTuningLogitsProcessor(expert, anti_expert, alpha) to base.generate(logits_processor=[...]).
"""


def _run(args: argparse.Namespace) -> Any:
    quiet_transformers()
    from zpd.data.errors import DataError
    from zpd.data.io import FieldSpec, Item, iter_items, write_jsonl
    from zpd.data.model_io import load_model
    from zpd.data.proxy import proxy_generate

    if (args.prompt is None) == (args.data is None):
        raise DataError("give exactly one of --prompt TEXT or --data FILE")
    if args.data is not None and args.out is None:
        raise DataError("--data needs --out for the generations")
    base, expert, anti = (load_model(p, device=args.device) for p in
                          (args.base, args.expert, args.anti_expert))
    if args.prompt is not None:
        rows: list[dict[str, Any]] = [{"prompt": args.prompt}]
    else:
        spec = FieldSpec(required=(("prompt", args.prompt_field),))
        rows = [dict(it.raw) | {"prompt": it.text["prompt"]}
                for it in iter_items(args.data, spec) if isinstance(it, Item)]
    texts = proxy_generate(base, expert, anti, [r["prompt"] for r in rows], alpha=args.alpha,
                           max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                           top_p=args.top_p, stop=tuple(args.stop), seed=args.seed)
    out = [{**r, "generation": t} for r, t in zip(rows, texts)]
    if args.out:
        write_jsonl(args.out, out)
        return {"out": args.out, "rows": len(out)}
    return {"generations": [o["generation"] for o in out]}


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
    p.add_argument("--prompt-field", default="prompt")
    p.add_argument("--out", default=None, help="generations JSONL (with --data)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--stop", action="append", default=[], help="cut generations here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    add_threads(p)
    p.set_defaults(func=guarded("zpd proxy", _run))
    return p
