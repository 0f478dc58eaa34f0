"""examples/verl_sampler.py runs end to end (shortened) in the verl environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "verl_sampler.py"


def test_verl_example(tmp_path) -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--steps", "5", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sampler: zpd.integrations.verl.ZPDCurriculumSampler" in proc.stdout
    assert "  step  4: " in proc.stdout  # crossed an epoch boundary (4 batches per pass)
    assert (tmp_path / "curriculum" / "zpd_bundle.json").is_file()
