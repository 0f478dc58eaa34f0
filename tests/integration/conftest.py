"""Shared fixtures of the real-host integration tests (TRL, Ray, verl, PyTorch).

The verl tests need verl 0.7.x, which pins numpy < 2 and so lives in its own environment
(``scripts/verl_env.sh`` makes ``.venv-verl``; ``scripts/test.sh`` runs them there). In an
environment without verl, ``tests/integration/verl`` is not collected; in the verl environment,
the tests of the other hosts are not collected unless their host is importable.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _missing(module: str) -> bool:
    # origin None: only a namespace package, e.g. this very tests/integration/verl folder
    spec = importlib.util.find_spec(module)
    return spec is None or spec.origin is None


collect_ignore_glob: list[str] = []
if _missing("verl"):
    collect_ignore_glob.append("verl/*")
if _missing("trl"):
    collect_ignore_glob += ["test_trl*.py", "test_examples.py"]
if _missing("ray"):
    collect_ignore_glob.append("test_ray*.py")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama-layout model + word-level tokenizer, built from a config (no download)."""
    from zpd.integrations.toy import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))
