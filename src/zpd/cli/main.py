"""Entry point of the ``zpd`` console command, and its one error boundary.

The subcommands live in their own modules (``zpd.cli.<name>``); this module wires them into one
argparse tree and turns every failure into one clear line on stderr:

* bad input (``ValueError``, which ``ZpdError`` is, and ``OSError``: a missing, unreadable or
  unwritable path) -> ``zpd <command>: error: <message>``, exit 2;
* a missing optional extra, checked before any work starts -> the ``pip install 'zpd[...]'``
  line that fixes it, exit 2;
* out of memory -> what to make smaller, exit 2;
* anything else is a bug in zpd -> "internal error (this is a bug)", where to report it, and
  ``--debug`` (or ``ZPD_DEBUG=1``) to see the traceback, exit 70.

It is not the place for any logic of a subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
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
  zpd --debug <command> ...    show the full traceback of an error (also ZPD_DEBUG=1)

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
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error (also: ZPD_DEBUG=1)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"zpd.cli.{name}")
        module.add_parser(sub)
    return parser


#: Optional extras each command needs (pyproject's ``[project.optional-dependencies]``).
EXTRAS: dict[str, tuple[str, ...]] = {
    "lab": ("torch", "transformers", "safetensors", "tokenizers", "tqdm", "matplotlib",
            "pyarrow"),
    "data": ("torch", "transformers", "safetensors", "tokenizers", "tqdm", "datasets",
             "pyarrow", "scipy"),
}
COMMAND_EXTRAS: dict[str, str] = {"lab": "lab", "demo": "lab", "score": "data", "filter": "data",
                                  "select": "data", "proxy": "data"}
MODULE_EXTRAS: dict[str, str] = {
    **{m: "lab" for m in EXTRAS["lab"]}, "datasets": "data", "scipy": "data", "trl": "trl",
    "accelerate": "trl", "ray": "ray", "tensorboard": "sinks", "mlflow": "sinks",
    "wandb": "sinks", "verl": "verl",
}
REPORT_URL = "https://example.invalid/zpd/issues"


class MissingExtraError(RuntimeError):
    """An optional dependency a command needs is not installed; the message names the extra."""


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (checked without importing)."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def check_extras(command: str, args: argparse.Namespace) -> None:
    """Raise :class:`MissingExtraError` before any work when ``command`` lacks its extra."""
    extra = COMMAND_EXTRAS.get(command)
    if command == "profile" and getattr(args, "plot", None):
        extra = "lab"  # the plot needs matplotlib
    if extra is None:
        return
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(
            f"`zpd {command}` needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'}"
            f" not installed: pip install 'zpd[{extra}]'")


def _command(argv: Sequence[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split("\n")[:1]) if isinstance(exc, MemoryError) else text


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("ZPD_DEBUG", "") not in ("", "0") or "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    command = _command(argv)
    prog = f"zpd {command}".strip()
    try:
        check_extras(command, args)
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the boundary: one line, or the traceback with --debug
        if debug:
            raise
        return report_error(prog, exc)


def report_error(prog: str, exc: BaseException) -> int:
    """Print the one-line message for ``exc`` and return the exit code (see the module doc)."""
    if isinstance(exc, MissingExtraError):
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        root = exc.name.split(".")[0]
        extra = MODULE_EXTRAS.get(root)
        fix = f"pip install 'zpd[{extra}]'" if extra else f"pip install {root}"
        print(f"{prog}: error: the optional package {root!r} is not installed: {fix}",
              file=sys.stderr)
        return 2
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError)
                                        and "allocate" in str(exc) and "memory" in str(exc)):
        print(f"{prog}: error: out of memory ({_message(exc)}); lower the sizes you asked for "
              "(batch size, --max-length, --proj-dim, item counts)", file=sys.stderr)
        return 2
    if isinstance(exc, (ValueError, OSError)):
        print(f"{prog}: error: {_message(exc)}", file=sys.stderr)
        return 2
    print(f"{prog}: internal error (this is a bug): {type(exc).__name__}: {_message(exc)}\n"
          f"  please report it at {REPORT_URL} with the command you ran; rerun with --debug "
          "to see the traceback", file=sys.stderr)
    return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
