"""A ``torch.utils.data.Sampler`` that yields a zpd curriculum's picks, for any training loop.

What it is: the plain-PyTorch shim. Each batch of ``batch_size`` distinct item ids is drawn from
the curriculum only when the loader asks for it (so the picks see every update made before that
moment); each id can be repeated ``repeat_each`` times in a row (one prompt per rollout of a
GRPO group) and the whole block ``repeat_batch`` times (reuse of one generation, as TRL does).
Rewards come back through :meth:`CurriculumSampler.update`, which checks that they belong to the
oldest batch drawn and not yet rewarded, updates the curriculum and returns ``curriculum/...``
metrics. :meth:`save` / :meth:`load` keep the curriculum and the drawn-but-unrewarded batches, so
a resumed loop sees exactly the picks an uninterrupted one would.

What it is not: a dataset or a collate function (item id == dataset row index is the caller's
contract), nor a distributed sampler — give every rank the same seed and the same (gathered)
updates and the picks are identical on every rank; shard the yielded stream as usual.

Lag: a ``DataLoader`` with ``num_workers=0`` asks for a batch when the loop needs it, so there is
none; with workers it prefetches ``prefetch_factor * num_workers`` batches, and picks are that
many batches stale (see ``Draw.staleness`` and the ``curriculum/staleness`` metric).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from zpd.integrations._errors import IntegrationError
from zpd.integrations._ledger import Draw, DrawLedger
from zpd.integrations._metrics import batch_metrics
from zpd.integrations._persist import load_bundle, save_bundle

__all__ = ["CurriculumSampler"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise IntegrationError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class CurriculumSampler(Sampler[int]):
    """Yield item ids picked by ``curriculum`` (a :class:`zpd.Curriculum`), one batch at a time.

    ``batch_size`` distinct picks per draw; ``num_batches`` draws per pass (default: enough to
    cover every item once); ``repeat_each`` copies of each id in a row; ``repeat_batch`` copies of
    each drawn block. ``record=True`` keeps every :class:`Draw` in ``history`` (tests, examples).
    """

    def __init__(
        self,
        curriculum: Any,
        batch_size: int,
        *,
        num_batches: int | None = None,
        repeat_each: int = 1,
        repeat_batch: int = 1,
        record: bool = False,
    ) -> None:
        batch_size = _positive_int("batch_size", batch_size)
        if batch_size > curriculum.num_items:
            raise IntegrationError(
                f"batch_size {batch_size} exceeds the curriculum's {curriculum.num_items} items; "
                "lower the batch size (distinct picks per batch) or add items"
            )
        if num_batches is None:
            num_batches = -(-int(curriculum.num_items) // batch_size)
        self.curriculum = curriculum
        self.ledger = DrawLedger(curriculum, batch_size)
        self.num_batches = _positive_int("num_batches", num_batches)
        self.repeat_each = _positive_int("repeat_each", repeat_each)
        self.repeat_batch = _positive_int("repeat_batch", repeat_batch)
        self.record = bool(record)
        self.history: list[Draw] = []

    @property
    def batch_size(self) -> int:
        return self.ledger.batch_size

    def __len__(self) -> int:
        return self.num_batches * self.batch_size * self.repeat_each * self.repeat_batch

    def __iter__(self) -> Iterator[int]:
        self.ledger.restart()
        for _ in range(self.num_batches):
            draw = self.ledger.next_draw()
            if self.record and (not self.history or draw.seq > self.history[-1].seq):
                self.history.append(draw)
            block = np.repeat(draw.ids, self.repeat_each).tolist()  # (B * repeat_each,)
            for _ in range(self.repeat_batch):
                yield from block

    def update(self, ids: Any, rewards: Any) -> dict[str, float]:
        """Send one batch's rewards to the curriculum; returns its ``curriculum/...`` metrics.

        ``ids`` (n,) distinct picks of the oldest unrewarded batch (all of them, or the groups
        kept after a filter), ``rewards`` (n, G) floats in [0, 1]. Bad input raises and changes
        neither the ledger nor the curriculum.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)  # (n,)
        rewards = np.asarray(rewards, dtype=np.float64)  # (n, G)
        if rewards.ndim != 2 or rewards.shape[0] != ids.size:
            raise IntegrationError(
                f"rewards must be (len(ids), G) = ({ids.size}, G), got shape {rewards.shape}"
            )
        predicted = (
            np.asarray(self.curriculum.estimate(ids).mean, dtype=np.float64)
            if ids.size
            else np.zeros(0)
        )
        def apply(_draw: Draw) -> None:
            if ids.size:  # every group of the batch may have been dropped
                self.curriculum.update(ids, rewards)

        draw = self.ledger.retire(ids, apply)
        metrics = batch_metrics(self.curriculum, draw, ids, rewards, predicted)
        metrics["curriculum/updates"] = float(self.ledger.updates)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """The ledger's JSON-ready state (the curriculum is saved by :meth:`save`)."""
        return self.ledger.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the ledger; drawn-but-unrewarded batches are handed out again first."""
        self.ledger.load_state_dict(state)

    def save(self, folder: str | Path) -> Path:
        """Save the curriculum and the ledger to ``folder`` (atomic, no pickle)."""
        return save_bundle(folder, self.curriculum, {"sampler": self.state_dict()})

    def load(self, folder: str | Path) -> None:
        """Restore the curriculum (in place) and the ledger from ``folder``."""
        curriculum, extra = load_bundle(folder)
        if "sampler" not in extra:
            raise IntegrationError(f"{folder} holds no sampler state; save it with sampler.save")
        if curriculum.num_items != self.curriculum.num_items:
            raise IntegrationError(
                f"{folder} holds a curriculum over {curriculum.num_items} items, this sampler's "
                f"has {self.curriculum.num_items}; resume with the same dataset"
            )
        ledger = DrawLedger(self.curriculum, self.batch_size)
        ledger.load_state_dict(extra["sampler"])  # validate before touching anything
        self.curriculum.load_state_dict(curriculum.state_dict())
        self.ledger = ledger
