"""The `zpd` command: every registered subcommand is listed and teaches with --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zpd.cli.main import SUBCOMMAND_MODULES, build_parser, main


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "zone of proximal development" in out
    parser = build_parser()
    sub_actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    names = set(sub_actions[0].choices)  # type: ignore[attr-defined]
    assert names, "no subcommand registered"
    for name in names:
        assert name in out


@pytest.mark.parametrize("module", SUBCOMMAND_MODULES)
def test_each_subcommand_help_has_examples(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    sub_actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    choices = sub_actions[0].choices  # type: ignore[attr-defined]
    owned = [n for n, p in choices.items() if p.prog.split()[-1] == n]
    assert owned
    for name in owned:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "usage:" in out and "example" in out.lower(), f"`zpd {name} --help` has no examples"


def test_no_command_prints_help_and_fails() -> None:
    assert main([]) == 2


def test_help_does_not_import_torch() -> None:
    code = "import sys; from zpd.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "`zpd --help` must stay instant: import torch lazily"
