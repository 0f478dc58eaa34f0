"""Data pruning scores and keep strategies: EL2N, forgetting events, easy / hard / random subsets.

What it is:

* :func:`keep_indices` — keep a ``fraction`` of items by score: ``easy`` (lowest), ``hard``
  (highest) or ``random`` (seeded);
* :class:`EL2NScorer` — EL2N of Paul et al., "Deep Learning on a Data Diet" (arXiv 2107.07075),
  for language models: the mean over answer tokens of ``||softmax(logits) - onehot(token)||_2``,
  averaged over several models (the paper averages early-training checkpoints of a few seeds);
* :func:`forgetting_events`, :class:`ForgettingTracker` and :class:`ForgettingScorer` — forgetting
  events of Toneva et al. (arXiv 1812.05159): how often an item goes from learned to not learned
  between consecutive checkpoints; items never learned rank above every forgettable one.

Higher score = harder for all of them. LESS-style gradient selection lives in ``less``. What it is
not: a trainer (checkpoints come from your training run, or from ``less.warmup``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np

from zpd.data.errors import DataError
from zpd.data.io import parse_enum


class KeepStrategy(str, Enum):
    """Which items to keep by score (higher score = harder)."""

    EASY = "easy"
    HARD = "hard"
    RANDOM = "random"


def keep_indices(scores: Any, fraction: float, strategy: KeepStrategy | str = "hard",
                 seed: int = 0) -> np.ndarray:
    """Sorted indices of the kept items: ``round(fraction * N)`` of them (ties: lower index first).

    ``easy`` keeps the lowest scores, ``hard`` the highest, ``random`` a seeded uniform subset.
    NaN scores are refused for easy/hard (score those items or drop them first).
    """
    how = parse_enum(KeepStrategy, strategy, "strategy")
    s = np.asarray(scores, dtype=np.float64)  # (N,)
    if s.ndim != 1:
        raise DataError(f"scores must be 1-D (one per item); got shape {s.shape}")
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"fraction must be in (0, 1]; got {fraction}")
    n_keep = max(1, int(round(fraction * s.size))) if s.size else 0
    if how is KeepStrategy.RANDOM:
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(s.size, size=n_keep, replace=False)).astype(np.int64)
    if np.isnan(s).any():
        raise DataError(f"{int(np.isnan(s).sum())} scores are NaN; easy/hard need a score for "
                        "every item (score them, or drop them first)")
    key = s if how is KeepStrategy.EASY else -s
    order = np.argsort(key, kind="stable")
    return np.sort(order[:n_keep]).astype(np.int64)


class EL2NScorer:
    """EL2N per item, averaged over models (arXiv 2107.07075); ``score`` returns (N,)."""

    def __init__(self, models: Sequence[Any], *, batch_tokens: int | None = None,
                 max_length: int | None = None):
        if not models:
            raise DataError("EL2N needs at least one model (checkpoint)")
        self.models = list(models)
        self.batch_tokens = batch_tokens
        self.max_length = max_length

    def score(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        from zpd.data.tokenstats import segment_stats

        total = np.zeros(len(prompts))
        for lm in self.models:
            items = [[x, y] for x, y in zip(lm.encode(list(prompts)), lm.encode(list(answers)))]
            st = segment_stats(lm, items, stats=("nll", "el2n"), batch_tokens=self.batch_tokens,
                               max_length=self.max_length)
            total += st.mean("el2n")[:, 1]  # answer tokens only
        return total / len(self.models)


def forgetting_events(correct: Any) -> np.ndarray:
    """Forgetting events per item from a (N, T) learned/not-learned matrix in training order.

    Counts transitions learned -> not learned (arXiv 1812.05159). Items never learned get ``T``,
    more than any item can have (at most T // 2), so they rank as the hardest.
    """
    c = np.asarray(correct, dtype=bool)  # (N, T)
    if c.ndim != 2 or c.shape[1] < 1:
        raise DataError(f"correct must be (items, checkpoints) with >= 1 checkpoint; got {c.shape}")
    events = (c[:, :-1] & ~c[:, 1:]).sum(axis=1).astype(np.float64)  # (N,)
    events[~c.any(axis=1)] = float(c.shape[1])
    return events


class ForgettingTracker:
    """Online forgetting counts for use inside a training loop (numpy only).

    ``update(ids, correct)`` after each evaluation of a batch; ``scores()`` returns events per
    item, with never-learned items (seen but never correct) and unseen items at ``inf``.
    """

    def __init__(self, num_items: int):
        if num_items < 1:
            raise DataError(f"num_items must be >= 1; got {num_items}")
        self.last = np.zeros(num_items, dtype=bool)  # (N,) learned at the last visit
        self.ever = np.zeros(num_items, dtype=bool)  # (N,) learned at some visit
        self.events = np.zeros(num_items, dtype=np.int64)  # (N,)
        self.seen = np.zeros(num_items, dtype=bool)

    def update(self, ids: Any, correct: Any) -> None:
        idx = np.asarray(ids, dtype=np.int64)
        ok = np.asarray(correct, dtype=bool)
        if idx.shape != ok.shape or idx.ndim != 1:
            raise DataError("ids and correct must be 1-D arrays of the same length")
        if idx.size and (idx.min() < 0 or idx.max() >= self.last.size):
            raise DataError(f"ids must be in [0, {self.last.size}); got {idx.min()}..{idx.max()}")
        if np.unique(idx).size != idx.size:
            raise DataError("ids must be distinct within one update")
        self.events[idx] += (self.seen[idx] & self.last[idx] & ~ok).astype(np.int64)
        self.last[idx] = ok
        self.ever[idx] |= ok
        self.seen[idx] = True

    def scores(self) -> np.ndarray:
        out = self.events.astype(np.float64)
        out[~self.ever] = np.inf
        return out


class ForgettingScorer:
    """Forgetting events over checkpoints given in training order (arXiv 1812.05159).

    An item counts as learned at a checkpoint when the share of its answer tokens that the model's
    argmax predicts (teacher-forced) is at least ``threshold`` (1.0: the whole answer).
    """

    def __init__(self, checkpoints: Sequence[Any], *, threshold: float = 1.0,
                 batch_tokens: int | None = None, max_length: int | None = None):
        if len(checkpoints) < 2:
            raise DataError("forgetting needs at least two checkpoints in training order")
        if not 0.0 < threshold <= 1.0:
            raise DataError(f"threshold must be in (0, 1]; got {threshold}")
        self.checkpoints = list(checkpoints)
        self.threshold = threshold
        self.batch_tokens = batch_tokens
        self.max_length = max_length

    def learned(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """(N, T) bool: learned at each checkpoint."""
        from zpd.data.tokenstats import segment_stats

        cols = []
        for lm in self.checkpoints:
            items = [[x, y] for x, y in zip(lm.encode(list(prompts)), lm.encode(list(answers)))]
            st = segment_stats(lm, items, stats=("nll", "correct"),
                               batch_tokens=self.batch_tokens, max_length=self.max_length)
            acc = st.mean("correct")[:, 1]  # (N,) token accuracy on the answer
            cols.append(np.nan_to_num(acc, nan=0.0) >= self.threshold - 1e-12)
        return np.stack(cols, axis=1)

    def score(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        return forgetting_events(self.learned(prompts, answers))
