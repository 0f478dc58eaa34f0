"""``zpd filter refinements``: keep a teacher's refinement only where the student can reach it.

What it is: the argparse front of :func:`zpd.data.filter_refinements` (arXiv 2402.10110's
student-side rule on IFD and reversed IFD). What it is not: the rule itself (``zpd.data``).
"""

from __future__ import annotations

import argparse
from typing import Any

from zpd.data.cliargs import (
    add_run,
    guarded,
    quiet_transformers,
    ray_config,
    run_config,
    warn_completion_only,
)

PROMPT_TESTS = ("auto", "ifd", "answer-nll")
"""``zpd.data.refinements.PromptTest``'s values, default first (kept here so that ``--help``
does not import torch; a test holds them equal)."""
RESPONSE_TESTS = ("auto", "rifd", "answer-nll")
"""``zpd.data.refinements.ResponseTest``'s values, default first (likewise)."""

EPILOG = """\
examples:
  zpd filter refinements pairs.jsonl --model ./student --out kept.jsonl
  zpd filter refinements pairs.jsonl --model ./student --out kept.jsonl --max-ifd 0.9 --drop-original
  zpd filter refinements pairs.parquet --model ./student --out kept.jsonl \\
      --refined-prompt-field new_q --refined-answer-field new_a

Each row holds the original prompt/answer and the teacher's refined_prompt / refined_answer
(missing or null = unchanged). Writes OUT (kept rows, with zpd_source = refined | original),
OUT.decisions.jsonl (every row: decision, reason, IFD and r-IFD of both pairs) and
OUT.report.json (counts by decision and reason).
Python: zpd.data.filter_refinements(...)
"""


def _run(args: argparse.Namespace) -> Any:
    quiet_transformers()
    from zpd.data.distance import DistanceConfig
    from zpd.data.refinements import RefinementConfig, RefinementFields, filter_refinements

    cfg = RefinementConfig(max_ifd=args.max_ifd, max_rifd=args.max_rifd,
                           min_ifd_gain=args.min_ifd_gain, min_rifd_drop=args.min_rifd_drop,
                           keep_original=not args.drop_original,
                           prompt_test=args.prompt_test, response_test=args.response_test,
                           distance=DistanceConfig(reverse_template=args.reverse_template))
    fields = RefinementFields(prompt=args.prompt_field, answer=args.answer_field,
                              refined_prompt=args.refined_prompt_field,
                              refined_answer=args.refined_answer_field, id=args.id_field)
    notes = []  # what each test does on a completion-only student (said only for one)
    for what, flag, test, paper, name in (
            ("prompts", "--prompt-test", args.prompt_test, "ifd", "IFD"),
            ("answers", "--response-test", args.response_test, "rifd", "r-IFD")):
        if test == "auto":
            notes.append(f"; refined {what} are judged by answer-nll instead of {name} ({flag})")
        elif test == paper:
            notes.append(f"; {flag} {test} judges refined {what} by it anyway")
    if notes:
        warn_completion_only("zpd filter", args.model, "".join(notes))
    return filter_refinements(args.data, args.model, args.out, fields=fields, config=cfg,
                              run=run_config(args), device=args.device, dtype=args.dtype, bos=args.bos,
                              ray=ray_config(args))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd filter`` (refinements) on ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "filter", help="filter training data with the student's own statistics",
        description="Filter training data relative to a model.",
        epilog="examples:\n  zpd filter refinements pairs.jsonl --model ./student --out kept.jsonl\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(title="filters", metavar="FILTER")
    p = sub.add_parser("refinements", help="keep refined pairs within the student's reach",
                       description="For original/refined pairs, keep a refinement only where the "
                                   "student's IFD and reversed IFD say it is within reach.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="dataset: .jsonl, .parquet or a datasets directory")
    p.add_argument("--model", required=True, help="the student: a local causal LM directory")
    p.add_argument("--out", required=True, help="kept rows (JSONL)")
    g = p.add_argument_group("dataset columns")
    g.add_argument("--prompt-field", default="prompt")
    g.add_argument("--answer-field", default="answer")
    g.add_argument("--refined-prompt-field", default="refined_prompt")
    g.add_argument("--refined-answer-field", default="refined_answer")
    g.add_argument("--id-field", default=None)
    g.add_argument("--split", default=None, help="split of a datasets DatasetDict directory")
    t = p.add_argument_group("thresholds (defaults: arXiv 2402.10110)")
    t.add_argument("--max-ifd", type=float, default=1.0, help="kept pairs need IFD below this")
    t.add_argument("--max-rifd", type=float, default=1.0, help="kept pairs need r-IFD below this")
    t.add_argument("--min-ifd-gain", type=float, default=0.0,
                   help="a refined prompt must raise IFD (answer-nll: the NLL) by more than this")
    t.add_argument("--min-rifd-drop", type=float, default=0.0,
                   help="a refined answer must lower r-IFD (answer-nll: the NLL) by more than "
                        "this")
    t.add_argument("--prompt-test", choices=PROMPT_TESTS, default=PROMPT_TESTS[0],
                   help="how a refined prompt is judged harder: ifd (the paper: IFD rises), "
                        "answer-nll (zpd: NLL(answer | prompt) rises; for students trained on "
                        "completions only, whose NLL(answer) with no prompt, IFD's denominator, "
                        "means nothing) or auto (answer-nll for a zpd lab checkpoint, else ifd)")
    t.add_argument("--response-test", choices=RESPONSE_TESTS, default=RESPONSE_TESTS[0],
                   help="how a refined answer alone is judged: rifd (the paper: r-IFD drops), "
                        "answer-nll (zpd: NLL(answer | prompt) drops; for students trained on "
                        "completions only, whose r-IFD means nothing) or auto (answer-nll for a "
                        "zpd lab checkpoint, else rifd)")
    t.add_argument("--drop-original", action="store_true",
                   help="drop rows whose refinement is rejected (default: keep the original)")
    t.add_argument("--reverse-template", default="{answer}",
                   help="text before the prompt for PPL(x|y); contains {answer}")
    add_run(p, batch_rows=512)
    p.set_defaults(func=guarded("zpd filter refinements", _run))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser
