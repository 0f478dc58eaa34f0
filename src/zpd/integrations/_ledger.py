"""The ledger every host sampler keeps: which batches the curriculum drew, which came back.

A host (TRL, verl, a plain PyTorch loop) pulls item ids from a sampler well before the rewards
for them exist, and sometimes pulls ahead (TRL's dataloader prefetches one batch). The ledger
records every draw in order, retires the oldest one when its rewards reach ``update``, checks that
the rewards belong to the ids that were drawn, and replays drawn-but-unrewarded batches after a
restart, so that a resumed run draws exactly what an uninterrupted one would.

What it is not: a sampler (see ``torch.py``, ``trl.py``, ``verl.py``) or a persistence format
(see ``_persist.py``); it imports numpy only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from zpd.integrations._errors import IntegrationError

LEDGER_VERSION = 1


@dataclass(frozen=True)
class Draw:
    """One batch of item ids the curriculum picked."""

    seq: int
    """0-based draw number over the whole run (survives save/load)."""
    ids: np.ndarray
    """(B,) int64 item ids, in the order the host receives them."""
    anchors: np.ndarray
    """(k,) int64 ids among ``ids`` that are retention anchors (``Curriculum.anchor_ids``)."""
    updates_before: int
    """How many batches' rewards the curriculum had received when this batch was drawn."""

    @property
    def staleness(self) -> int:
        """Batches drawn before this one whose rewards had not yet reached the curriculum."""
        return self.seq - self.updates_before

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ids": self.ids.tolist(),
            "anchors": self.anchors.tolist(),
            "updates_before": self.updates_before,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> Draw:
        return Draw(
            seq=int(d["seq"]),
            ids=np.asarray(d["ids"], dtype=np.int64),
            anchors=np.asarray(d["anchors"], dtype=np.int64),
            updates_before=int(d["updates_before"]),
        )


class DrawLedger:
    """Draw batches from a curriculum, retire them in order as their rewards come back.

    ``curriculum`` is any object with ``sample(n) -> (n,) int64`` and ``anchor_ids``
    (a :class:`zpd.Curriculum`). ``batch_size`` is the number of distinct picks per draw.
    """

    def __init__(self, curriculum: Any, batch_size: int) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise IntegrationError(f"batch_size must be a positive int, got {batch_size!r}")
        self.curriculum = curriculum
        self.batch_size = batch_size
        self.next_seq = 0
        self.updates = 0
        self.pending: deque[Draw] = deque()  # drawn, rewards not yet back, oldest first
        self._replay: deque[Draw] = deque()  # pending draws to hand out again after a restart

    def restart(self) -> None:
        """A new pass over the sampler began: hand out the unrewarded draws again, oldest first.

        A host abandons its previous iterator when it starts a new one (a new epoch, a resumed
        run); batches it drew but never trained on must not be lost, nor drawn afresh.
        """
        self._replay = deque(self.pending)

    def next_draw(self) -> Draw:
        """The next batch: a replayed unrewarded draw if any, else a fresh ``sample``."""
        if self._replay:
            return self._replay.popleft()
        ids = np.asarray(self.curriculum.sample(self.batch_size), dtype=np.int64)  # (B,)
        anchors = np.asarray(self.curriculum.anchor_ids, dtype=np.int64)
        draw = Draw(self.next_seq, ids, anchors, self.updates)
        self.next_seq += 1
        self.pending.append(draw)
        return draw

    def retire(self, ids: np.ndarray, apply: Callable[[Draw], None] | None = None) -> Draw:
        """Match rewarded ``ids`` (each distinct pick once) to the oldest pending draw; retire it.

        Every id must be among that draw's ids (a subset is allowed: a host may drop groups, as
        DAPO does). ``apply(draw)`` (the curriculum update) runs after the check and before the
        draw is retired, so if either raises, the ledger is unchanged.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not self.pending:
            raise IntegrationError(
                f"rewards arrived for ids {ids[:8].tolist()} but no drawn batch is waiting for "
                "them; send each batch's rewards once, through the sampler that drew it"
            )
        oldest = self.pending[0]
        if not _is_sub_multiset(ids, oldest.ids):
            raise IntegrationError(
                f"rewards arrived for ids {np.sort(ids)[:8].tolist()} which are not the oldest "
                f"batch the curriculum drew (draw {oldest.seq}: {np.sort(oldest.ids)[:8].tolist()}"
                "); rewards must come back in draw order, one update per batch, and the dataset's "
                "id column must equal the row index"
            )
        if apply is not None:
            apply(oldest)
        self.pending.popleft()
        if self._replay and self._replay[0].seq == oldest.seq:
            self._replay.popleft()
        self.updates += 1
        return oldest

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready ledger state (the curriculum's own state is saved separately)."""
        return {
            "version": LEDGER_VERSION,
            "batch_size": self.batch_size,
            "next_seq": self.next_seq,
            "updates": self.updates,
            "pending": [d.to_json() for d in self.pending],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; pending draws will be replayed on the next pass."""
        try:
            version = int(state["version"])
            batch_size = int(state["batch_size"])
            next_seq, updates = int(state["next_seq"]), int(state["updates"])
            pending = deque(Draw.from_json(d) for d in state["pending"])
        except (KeyError, TypeError, ValueError) as e:
            raise IntegrationError(
                f"not a zpd sampler ledger state ({e!r}); pass what DrawLedger.state_dict returned"
            ) from e
        if version != LEDGER_VERSION or batch_size != self.batch_size:
            raise IntegrationError(
                f"ledger state has version {version} and batch size {batch_size}, this sampler "
                f"expects version {LEDGER_VERSION} and batch size {self.batch_size}; resume with "
                "the same batch settings"
            )
        self.next_seq, self.updates, self.pending = next_seq, updates, pending
        self._replay = deque(pending)


def _is_sub_multiset(sub: np.ndarray, full: np.ndarray) -> bool:
    """True when every value of ``sub`` occurs in ``full`` at least as often."""
    if sub.size == 0:
        return True
    values, counts = np.unique(full, return_counts=True)
    got, got_counts = np.unique(sub, return_counts=True)
    pos = np.minimum(np.searchsorted(values, got), len(values) - 1)
    return bool(np.all(values[pos] == got) and np.all(got_counts <= counts[pos]))
