"""Shared fixtures of the real-host integration tests (TRL, Ray, verl, PyTorch).

The verl tests need their own environments: verl 0.7.x pins numpy < 2 (``scripts/verl_env.sh``
makes ``.venv-verl``) and verl 0.9.x needs transformers < 5.11 (``scripts/verl_env.sh 0.9`` makes
``.venv-verl9``); ``scripts/test.sh`` runs ``tests/integration/verl`` and ``verl9`` there. In an
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


def _verl_series() -> str | None:
    """'0.7', '0.9', ... of the installed verl (read without importing it), or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return ".".join(version("verl").split(".")[:2])
    except PackageNotFoundError:
        return None


collect_ignore_glob: list[str] = []
if _missing("verl") or _verl_series() != "0.7":
    collect_ignore_glob.append("verl/*")  # the 0.7 route (AbstractCurriculumSampler)
if _missing("verl") or _verl_series() != "0.9":
    collect_ignore_glob.append("verl9/*")  # the 0.9 route (v1 trainer)
if _missing("trl"):
    collect_ignore_glob += ["test_trl*.py", "test_examples.py"]
if _missing("ray"):
    collect_ignore_glob.append("test_ray*.py")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama-layout model + word-level tokenizer, built from a config (no download)."""
    from zpd.integrations.toy import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))
