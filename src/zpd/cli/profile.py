"""``zpd profile``: competence per category ("relation type") with intervals and a plot.

What it is: the argparse front of :func:`zpd.data.profile_results` and
:func:`zpd.data.plot_profile`. What it is not: the statistics (``zpd.data.profile``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from zpd.data.cliargs import add_threads, guarded

EPILOG = """\
examples:
  zpd profile diff.jsonl --plot profile.png
  zpd profile diff.jsonl --data train.jsonl --category-field relation --out profile.json
  zpd profile diff.jsonl --method wilson --confidence 0.9

DIFFICULTY is a `zpd score difficulty` result. Categories come from it (score with
--category-field) or, with --data, from the dataset's --category-field column by row.
Python: zpd.data.profile_results(...), zpd.data.plot_profile(...)
"""


def _run(args: argparse.Namespace) -> Any:
    from zpd.core.atomic import atomic_write_json
    from zpd.data.profile import plot_profile, profile_dicts, profile_results

    prof = profile_results(args.results, data=args.data, category_field=args.category_field,
                           split=args.split, method=args.method, confidence=args.confidence,
                           n_boot=args.n_boot, seed=args.seed)
    rows = profile_dicts(prof)
    for c in prof:
        if c.note:
            print(f"zpd profile: warning: category {c.category!r}: {c.note}", file=sys.stderr)
    if args.out:
        atomic_write_json(args.out, {"method": args.method, "confidence": args.confidence,
                                     "categories": rows})
    if args.plot:
        plot_profile(prof, args.plot)
    return {"categories": rows, "out": args.out, "plot": args.plot}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zpd profile`` on ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "profile", help="competence per category with intervals and a plot",
        description="Competence per category (relation type) from a difficulty result: "
                    "item-averaged pass rate with a bootstrap interval (or pooled + Wilson).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="a `zpd score difficulty` result JSONL")
    p.add_argument("--data", default=None, help="dataset to take categories from (by row)")
    p.add_argument("--category-field", default="category", help="category column (category)")
    p.add_argument("--split", default=None, help="split of a datasets DatasetDict directory")
    p.add_argument("--method", default="bootstrap", choices=("bootstrap", "wilson"))
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the profile as JSON here")
    p.add_argument("--plot", default=None, help="write a PNG plot here")
    add_threads(p)
    p.set_defaults(func=guarded("zpd profile", _run))
    return p
