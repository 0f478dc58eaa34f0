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


def synthetic_batch(rng: np.random.Generator, step: int, faults: bool) -> RolloutBatch:
    """One step of a fake addition task with every batch field filled.

    32 items x 8 samples; items 0..7 are prior-skill items, present every step. With ``faults`` the policy repeats the
    answer "0" on 30 % of items, uses one format, loses the prior skill, and drifts from the base.
    """
    b, g, t = 32, 8, 12
    ids = np.concatenate([np.arange(8), 8 + rng.choice(192, b - 8, replace=False)])  # (B,)
    a, c = 100 + ids, 300 + 2 * ids
    targets = [str(x + y) for x, y in zip(a, c)]
    acc = np.where(np.arange(b) < 8, 0.3 if faults else 0.9, 0.5)
    rewards = (rng.random((b, g)) < acc[:, None]).astype(float)  # (B, G)
    answers = [[targets[i] if rewards[i, j] else str(rng.integers(1000)) for j in range(g)]
               for i in range(b)]
    if faults:
        for i in range(8, 8 + int(0.3 * b)):
            answers[i] = ["0"] * g
            rewards[i] = 0.0
    formats = [["direct" if faults or (i + j) % 2 else "scratchpad" for j in range(g)]
               for i in range(b)]
    logp = -rng.uniform(0.2, 2.0, (b, g, t))
    gap = 0.5 if faults else 0.01
    return RolloutBatch.from_groups(
        ids, rewards, [[f"{i}:{j}" for j in range(g)] for i in range(b)], answers,
        rng.integers(8, t + 1, (b, g)), prompts=[f"{x}+{y}=" for x, y in zip(a, c)],
        targets=targets, formats=formats, logprobs=logp, base_logprobs=logp - gap,
        truncated=np.zeros((b, g), bool),
    )


def write_synthetic_run(run_dir: Any, steps: int = 24, faults_from: int = 12) -> list:
    """Run the default suite with a JSONL sink over ``steps`` synthetic steps."""
    from zpd.monitors import JsonlSink, MonitorContext, MonitorSuite

    rng = np.random.default_rng(0)
    suite = MonitorSuite.default(JsonlSink(run_dir), prior_skills=np.arange(8))
    out = []
    with suite:
        for step in range(steps):
            batch = synthetic_batch(rng, step, faults=step >= faults_from)
            out.append(suite(batch, MonitorContext(step=step), extra={"lab/step_seconds": 0.1}))
    return out


@pytest.fixture
def synthetic() -> Callable[..., RolloutBatch]:
    return synthetic_batch


@pytest.fixture
def synthetic_run() -> Callable[..., list]:
    return write_synthetic_run
