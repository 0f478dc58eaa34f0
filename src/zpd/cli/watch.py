"""``zpd watch RUN_DIR``: print the training-health summary of a run from its metrics log.

What it is: the command-line face of :func:`zpd.monitors.read_run` — every monitor family by
name with last/min/max of its key metrics, the alerts raised and at which steps, and a verdict.
It reads ``RUN_DIR/metrics.jsonl`` (written by ``zpd.monitors.JsonlSink``) and works on a live
run. What it is not: a monitor — it computes nothing new from rollouts.
"""

from __future__ import annotations

import argparse
import os
import sys

from zpd.core.atomic import strict_dumps

EXAMPLES = """\
examples:
  zpd watch runs/demo                 health summary of a run (reads runs/demo/metrics.jsonl)
  zpd watch runs/demo --all           every metric, not only each family's key ones
  zpd watch runs/demo --json          the same summary as JSON (for scripts and dashboards)
  zpd watch runs/demo --fail-on warning   exit 1 if any warning or critical alert was raised

families: groups (zero-variance share, truncation), repetition (answers repeated across items,
echoed inputs), skipping (correct but far-too-short traces), accidental (advantage on lucky
successes), kl (KL to base, drift pressure), formats (format shares/collapse), diversity (token
entropy, distinct answers on unsolved items), coupling (length vs difficulty), retention
(accuracy on anchors and prior skills, drop test).
"""

_FAIL_LEVELS = {"never": None, "note": 2, "warning": 3, "critical": 4}


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``zpd watch``."""
    p = subparsers.add_parser(
        "watch",
        help="print the training-health summary of a run from its metrics log",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="run directory holding metrics.jsonl (or the JSONL file itself)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--all", action="store_true", dest="all_metrics",
                   help="print every metric of each family")
    p.add_argument("--fail-on", choices=list(_FAIL_LEVELS), default="never",
                   help="exit with status 1 if the run's verdict is at least this bad "
                        "(default: never)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the run, print it, and return the exit status."""
    from zpd.monitors import MonitorInputError, format_run, read_run
    from zpd.monitors.runlog import VERDICTS

    try:
        health = read_run(args.run_dir)
    except MonitorInputError as e:
        print(f"zpd watch: error: {e}", file=sys.stderr)
        return 2
    text = (strict_dumps(health.to_dict(), indent=2) if args.json
            else format_run(health, all_metrics=args.all_metrics))
    try:
        print(text)
    except BrokenPipeError:  # `zpd watch RUN | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
    level = _FAIL_LEVELS[args.fail_on]
    if level is not None and health.verdict in VERDICTS and VERDICTS.index(health.verdict) >= level:
        return 1
    return 0
