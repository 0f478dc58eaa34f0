"""Entry point of the ``zpd`` console command.

The subcommands live in their own modules (``zpd.cli.<name>``); this module only wires them into
one argparse tree. It is not the place for any logic of a subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (module under zpd.cli) — order is the order shown in `zpd --help`.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "sim",
    "watch",
    "lab",
    "demo",
    "score",
    "filter",
    "select",
    "profile",
    "proxy",
)

DESCRIPTION = """\
zpd keeps RL post-training of language models in the model's zone of proximal development:
the moving band of prompts that are neither solved nor hopeless for the model as it is now.
It picks prompts before rollouts are paid for, and watches for the damage training outside
that band does (shortcuts, lost skills, collapsed formats and diversity, KL drift).
"""

EPILOG = """\
examples:
  zpd demo --quick             see it work: tiny GPT, GRPO under every curriculum, report.html
  zpd sim                      compare curriculum policies on a simulated learner (seconds)
  zpd watch runs/my-run        health summary of a run: shortcuts, drift, collapse, retention
  zpd score difficulty --help  pass@k of a dataset under your model, to warm-start a curriculum
  zpd <command> --help         everything a command can do, with examples

Python:  cur = zpd.Curriculum(num_items=N); ids = cur.sample(256); cur.update(ids, rewards)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zpd",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from zpd import __version__

    parser.add_argument("--version", action="version", version=f"zpd {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"zpd.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
