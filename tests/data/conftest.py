"""Fixtures for the data-tool tests (helpers in ``datahelpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from datahelpers import make_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_model_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("models") / "tiny_b", seed=1)
