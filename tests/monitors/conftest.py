"""Builders of rollout batches whose monitor answers are known by construction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from zpd.monitors import RolloutBatch


def build_batch(
    rewards: Any,
    *,
    item_ids: Sequence[int] | None = None,
    answers: Sequence[Sequence[str | None]] | None = None,
    lengths: Any = None,
    **kw: Any,
) -> RolloutBatch:
    """(B, G) rewards -> RolloutBatch; answers default to a distinct string per rollout."""
    r = np.asarray(rewards, dtype=np.float64)
    b, g = r.shape
    ids = np.arange(b) if item_ids is None else np.asarray(item_ids)
    if answers is None:
        answers = [[f"a{int(ids[i])}_{j}" for j in range(g)] for i in range(b)]
    if lengths is None:
        lengths = np.full((b, g), 10)
    completions = [[f"completion {i}/{j}" for j in range(g)] for i in range(b)]
    return RolloutBatch.from_groups(ids, r, completions, answers, lengths, **kw)


@pytest.fixture
def make_batch() -> Callable[..., RolloutBatch]:
    return build_batch


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
