"""argparse pieces shared by the data subcommands (``zpd score|filter|select|profile|proxy``).

What it is: option groups (dataset fields, run control, device, Ray) and their translation into
the API's config objects, plus the error wrapper that turns bad input into one clear line and exit
status 2. It imports neither torch nor transformers (``zpd --help`` stays instant). What it is
not: any command's logic (``zpd.cli.<command>`` wires the API twins in ``zpd.data``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from zpd.core.atomic import strict_dumps


def add_fields(parser: argparse.ArgumentParser, *, answer: bool = True, category: bool = True
               ) -> None:
    """--prompt-field, --answer-field, --id-field, --category-field, --split."""
    g = parser.add_argument_group("dataset columns")
    g.add_argument("--prompt-field", default="prompt", help="prompt column (default: prompt)")
    if answer:
        g.add_argument("--answer-field", default="answer",
                       help="reference answer column (default: answer)")
    g.add_argument("--id-field", default=None, help="item id column (default: the row number)")
    if category:
        g.add_argument("--category-field", default=None,
                       help="category column copied into the results (for zpd profile)")
    g.add_argument("--split", default=None, help="split of a datasets DatasetDict directory")


def add_run(parser: argparse.ArgumentParser, *, batch_rows: int | None = 256,
            batch_rows_help: str | None = None) -> None:
    """Run control, device and Ray options (``batch_rows=None``: the command picks the default
    and says so in ``batch_rows_help``)."""
    g = parser.add_argument_group("run")
    g.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="a malformed row stops the run before any model work (raise, default) "
                        "or is skipped, counted and logged in OUT.skipped.jsonl (skip)")
    g.add_argument("--overwrite", action="store_true",
                   help="start over (default: resume an interrupted run with the same settings)")
    g.add_argument("--batch-rows", type=int, default=batch_rows,
                   help=batch_rows_help or f"rows per scoring batch, each written durably and "
                                            f"counted on the progress bar (default {batch_rows})")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads(g)
    g.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    g.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                   help="model weights dtype (default: as saved)")
    g.add_argument("--bos", default="auto", choices=("auto", "always", "never"),
                   help="what goes before every sequence: auto (default) follows the "
                        "tokenizer's own convention (add_bos_token, its post-processor; the lab's "
                        "and GPT-2's add nothing), always forces BOS (else EOS), never adds none")
    r = parser.add_argument_group("Ray (many GPUs or nodes)")
    r.add_argument("--ray", action="store_true", help="score over Ray Data actors")
    r.add_argument("--ray-workers", type=int, default=1, help="actors, one model each (default 1)")
    r.add_argument("--ray-gpus", type=float, default=0.0, help="GPUs per actor (default 0)")
    r.add_argument("--ray-address", default=None,
                   help="Ray cluster address ('auto': a running cluster; default: local Ray)")
    r.add_argument("--ray-block-rows", type=int, default=8192,
                   help="rows handed to Ray at a time (default 8192)")


def add_threads(parser: Any) -> None:
    """--threads: torch CPU threads (on a shared CPU, fewer threads are often faster)."""
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; with another job on "
                             "the box, 1 ran 8x faster than the default)")


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads from ``--threads`` (a value < 1 is an error)."""
    n = getattr(args, "threads", None)
    if n is None:
        return
    if n < 1:
        raise ValueError(f"--threads {n}: give a positive number of threads")
    import torch

    torch.set_num_threads(n)


def run_config(args: argparse.Namespace) -> Any:
    from zpd.data.pipeline import RunConfig

    return RunConfig(batch_rows=args.batch_rows, on_error=args.on_error,
                     overwrite=args.overwrite, progress=not args.quiet, split=args.split)


def ray_config(args: argparse.Namespace) -> Any:
    if not args.ray:
        return None
    from zpd.data.ray_backend import RayConfig

    return RayConfig(num_workers=args.ray_workers, num_gpus=args.ray_gpus,
                     address=args.ray_address, block_rows=args.ray_block_rows)


def guarded(prog: str, fn: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace],
                                                                             int]:
    """Run ``fn``; bad input (ValueError) becomes one line on stderr and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            apply_threads(args)
            result = fn(args)
        except ValueError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
        if result is not None:
            print(strict_dumps(result, indent=2, default=str))
        return 0

    return run


def quiet_transformers() -> None:
    """No weight-loading progress bars from transformers in command output."""
    try:
        from transformers.utils import logging

        logging.disable_progress_bar()
        logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def warn_completion_only(prog: str, model: str, consequence: str = "") -> None:
    """Say so on stderr when prompt-side NLL and r-IFD cannot mean anything for ``model``
    (``consequence``: what the command does about it, appended)."""
    from zpd.data.model_io import completion_only_note

    note = completion_only_note(model)
    if note:
        print(f"{prog}: warning: {note}{consequence}", file=sys.stderr)
