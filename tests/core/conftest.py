"""Fixtures for the core tests."""

from __future__ import annotations

import numpy as np
import pytest
from corehelpers import rollout

import zpd


@pytest.fixture
def trained() -> zpd.Curriculum:
    """A zpd curriculum over 300 items with features, after a few rounds."""
    rng = np.random.default_rng(5)
    n = 300
    p = rng.beta(0.6, 0.6, n)
    feats = {"category": rng.integers(0, 3, n), "len": rng.normal(size=n)}
    cur = zpd.Curriculum(n, seed=1, features=feats)
    for _ in range(4):
        ids = cur.sample(32)
        cur.update(ids, rollout(p, ids, 8, rng))
    return cur
