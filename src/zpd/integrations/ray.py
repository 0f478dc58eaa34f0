"""A zpd curriculum as a named Ray actor shared by many rollout workers.

What it is: :class:`CurriculumService`, the actor body (one :class:`zpd.Curriculum` behind it),
:func:`serve_curriculum`, which starts it as a named, restartable actor (or returns the running
one), and :class:`CurriculumClient`, the handle a rollout worker uses.

Guarantees:

* No lost or torn updates under concurrent calls: the actor runs one call at a time
  (:func:`serve_curriculum` always sets ``max_concurrency=1``), so every ``update`` is applied
  whole and in some serial order.
* No double-applied updates: each client numbers its updates (``client_id``, ``seq``); the actor
  keeps, per client, the highest contiguous ``seq`` applied plus any applied above it, and
  ignores a repeat (a retried call after a lost reply or an actor restart).
* State across an actor restart: with ``checkpoint_dir`` the actor saves the curriculum, the
  dedup table and its counters (a pickle-free bundle, written atomically) every
  ``checkpoint_every`` updates, and ``__init__`` restores from it when Ray restarts the actor.
  With ``checkpoint_every=1`` (default) an update acknowledged to a client is never lost; with
  k > 1 up to k-1 acknowledged updates can be lost in a crash (faster for large item sets).

What it is not: a rollout engine or a scheduler (pair it with your workers, e.g. Ray Data's
``build_processor`` for batch inference); Ray is imported only by :func:`serve_curriculum` and
:class:`CurriculumClient`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from zpd.integrations._errors import IntegrationError
from zpd.integrations._persist import has_bundle, load_bundle, save_bundle

__all__ = ["CurriculumClient", "CurriculumService", "serve_curriculum"]


class _Dedup:
    """Per-client record of applied update numbers: a watermark plus the numbers above it."""

    def __init__(self, table: dict[str, list[Any]] | None = None) -> None:
        self.table: dict[str, tuple[int, set[int]]] = {
            k: (int(w), {int(s) for s in above}) for k, (w, above) in (table or {}).items()
        }

    def seen(self, client: str, seq: int) -> bool:
        watermark, above = self.table.get(client, (0, set()))
        return seq <= watermark or seq in above

    def mark(self, client: str, seq: int) -> None:
        watermark, above = self.table.get(client, (0, set()))
        above = above | {seq}
        while watermark + 1 in above:  # compact: keep only numbers above a gap
            watermark += 1
            above.discard(watermark)
        self.table[client] = (watermark, above)

    def to_json(self) -> dict[str, list[Any]]:
        return {k: [w, sorted(above)] for k, (w, above) in self.table.items()}


class CurriculumService:
    """The actor body: a curriculum, a dedup table, evidence totals and optional checkpoints.

    ``num_items`` and ``curriculum_kwargs`` (``policy``, ``group_size``, ``seed``, ...) build a
    fresh :class:`zpd.Curriculum` unless ``checkpoint_dir`` already holds a bundle, which is then
    restored (that is what happens when Ray restarts the actor).
    """

    def __init__(self, num_items: int, *, checkpoint_dir: str | None = None,
                 checkpoint_every: int = 1, **curriculum_kwargs: Any) -> None:
        from zpd.core.curriculum import Curriculum

        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) \
                or checkpoint_every < 1:
            raise IntegrationError(f"checkpoint_every must be a positive int, got "
                                   f"{checkpoint_every!r}")
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every = checkpoint_every
        self.restored = self.checkpoint_dir is not None and has_bundle(self.checkpoint_dir)
        if self.restored:
            self.curriculum, extra = load_bundle(self.checkpoint_dir)  # type: ignore[arg-type]
            self._load_extra(extra)
        else:
            self.curriculum = Curriculum(num_items=num_items, **curriculum_kwargs)
            self.dedup = _Dedup()
            self.updates, self.duplicates = 0, 0
            self.trials = np.zeros(self.curriculum.num_items, dtype=np.int64)  # (N,)
            self.reward_sum = np.zeros(self.curriculum.num_items, dtype=np.float64)  # (N,)

    def _load_extra(self, extra: dict[str, Any]) -> None:
        try:
            self.dedup = _Dedup(extra["dedup"])
            self.updates, self.duplicates = int(extra["updates"]), int(extra["duplicates"])
            self.trials = np.asarray(extra["trials"], dtype=np.int64)
            self.reward_sum = np.asarray(extra["reward_sum"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise IntegrationError(
                f"{self.checkpoint_dir} is not a CurriculumService checkpoint ({e!r}); give the "
                "service its own checkpoint_dir"
            ) from e

    def sample(self, n: int) -> np.ndarray:
        """``Curriculum.sample(n)``: (n,) int64 item ids."""
        return np.asarray(self.curriculum.sample(n), dtype=np.int64)

    def update(self, client_id: str, seq: int, ids: Any, rewards: Any) -> bool:
        """Apply one update unless (client_id, seq) was applied before; True if applied.

        ``ids`` (n,), ``rewards`` (n, G) in [0, 1]. Bad input raises and changes nothing.
        """
        if not isinstance(client_id, str) or isinstance(seq, bool) or not isinstance(seq, int) \
                or seq < 1:
            raise IntegrationError(f"updates need a str client_id and an int seq >= 1, got "
                                   f"{client_id!r}, {seq!r}; use CurriculumClient")
        if self.dedup.seen(client_id, seq):
            self.duplicates += 1
            return False
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)  # (n,)
        rewards = np.asarray(rewards, dtype=np.float64)  # (n, G)
        try:
            self.curriculum.update(ids, rewards)  # validates; raises before changing anything
        finally:
            self.dedup.mark(client_id, seq)  # a rejected number is used up too: no gaps
        self.updates += 1
        np.add.at(self.trials, ids, rewards.shape[1])
        np.add.at(self.reward_sum, ids, rewards.sum(axis=1))
        if self.checkpoint_dir is not None and self.updates % self.checkpoint_every == 0:
            self.save()
        return True

    def estimate(self, ids: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior (mean, lower, upper) pass rate of ``ids``, each (n,)."""
        est = self.curriculum.estimate(np.asarray(ids, dtype=np.int64))
        return np.asarray(est.mean), np.asarray(est.lower), np.asarray(est.upper)

    def evidence(self) -> tuple[np.ndarray, np.ndarray]:
        """Per item: rollouts applied (N,) int64 and the sum of their rewards (N,) float64."""
        return self.trials.copy(), self.reward_sum.copy()

    def stats(self) -> dict[str, Any]:
        """Counters: ``updates`` applied, ``duplicates`` ignored, ``restored`` from a checkpoint."""
        return {"updates": self.updates, "duplicates": self.duplicates,
                "restored": self.restored, "num_items": int(self.curriculum.num_items)}

    def pid(self) -> int:
        """The actor's process id (changes when Ray restarts the actor)."""
        return os.getpid()

    def state_dict(self) -> dict[str, Any]:
        """The curriculum's state dict (for a local copy: ``Curriculum.load_state_dict``)."""
        return self.curriculum.state_dict()  # type: ignore[no-any-return]

    def save(self) -> str:
        """Write the checkpoint bundle now; returns its folder."""
        if self.checkpoint_dir is None:
            raise IntegrationError("this CurriculumService has no checkpoint_dir to save to")
        extra = {"dedup": self.dedup.to_json(), "updates": self.updates,
                 "duplicates": self.duplicates, "trials": self.trials.tolist(),
                 "reward_sum": self.reward_sum.tolist()}
        save_bundle(self.checkpoint_dir, self.curriculum, extra)
        return str(self.checkpoint_dir)


def serve_curriculum(name: str, num_items: int, *, checkpoint_dir: str | None = None,
                     checkpoint_every: int = 1, max_restarts: int = -1,
                     namespace: str | None = None, **curriculum_kwargs: Any) -> Any:
    """Start (or get, if running) the named curriculum actor; returns its handle once it is ready.

    ``max_restarts`` (-1: always) with ``max_task_retries=-1`` makes Ray restart a dead actor and
    retry the calls in flight; ``checkpoint_dir`` makes the restarted actor resume its state.
    Call after ``ray.init``.
    """
    import ray

    if not ray.is_initialized():
        raise IntegrationError("call ray.init(...) before serve_curriculum")
    if max_restarts != 0 and checkpoint_dir is None:
        raise IntegrationError(
            "a restartable curriculum actor needs checkpoint_dir, or it would restart empty; "
            "pass checkpoint_dir=... or max_restarts=0"
        )
    actor_cls = ray.remote(CurriculumService)
    handle = actor_cls.options(  # type: ignore[attr-defined]
        name=name, namespace=namespace, get_if_exists=True, max_concurrency=1,
        max_restarts=max_restarts, max_task_retries=-1 if max_restarts != 0 else 0,
    ).remote(num_items, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
             **curriculum_kwargs)
    ray.get(handle.stats.remote())  # type: ignore[attr-defined]  # ready: built and findable
    return handle


class CurriculumClient:
    """A rollout worker's handle on the curriculum actor (a handle or the actor's name).

    Numbers its updates 1, 2, ... under a fresh ``client_id`` (uuid4), so the actor applies each
    exactly once even when Ray retries the call. Reuse a ``client_id`` only together with its
    ``next_seq`` (``start_seq``), or the actor will ignore the reused numbers as repeats.
    """

    def __init__(self, actor: Any, *, client_id: str | None = None, namespace: str | None = None,
                 start_seq: int = 1) -> None:
        import ray

        self.actor = ray.get_actor(actor, namespace=namespace) if isinstance(actor, str) else actor
        self.client_id = client_id or uuid.uuid4().hex
        self.next_seq = int(start_seq)

    def sample(self, n: int) -> np.ndarray:
        import ray

        return ray.get(self.actor.sample.remote(n))  # type: ignore[no-any-return]

    def update(self, ids: Any, rewards: Any) -> bool:
        """Send one update; True if applied, False if the actor had it already."""
        import ray

        seq, self.next_seq = self.next_seq, self.next_seq + 1
        applied: bool = ray.get(self.actor.update.remote(self.client_id, seq, ids, rewards))
        return applied

    def resend(self, ids: Any, rewards: Any, seq: int) -> bool:
        """Send update ``seq`` again (after a timeout); the actor applies it at most once."""
        import ray

        applied: bool = ray.get(self.actor.update.remote(self.client_id, seq, ids, rewards))
        return applied

    def estimate(self, ids: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import ray

        return ray.get(self.actor.estimate.remote(ids))  # type: ignore[no-any-return]
