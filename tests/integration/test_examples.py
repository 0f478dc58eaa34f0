"""The runnable examples run end to end (shortened) and print what the curriculum did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_trl_example(tmp_path) -> None:
    out = _run("trl_grpo.py", "--steps", "4", "--out", str(tmp_path))
    assert "draw  1 (staleness 0)" in out  # two steps per block: no prefetch lag
    assert "curriculum/updates               2.000" in out
    assert (tmp_path / "run" / "checkpoint-2" / "zpd_bundle.json").is_file()


def test_ray_example(tmp_path) -> None:
    out = _run("ray_curriculum.py", "--rounds", "2", "--out", str(tmp_path))
    assert "'updates': 8, 'duplicates': 0, 'restored': True" in out  # 2 workers x 2 rounds x 2
    assert "what the curriculum learned" in out
