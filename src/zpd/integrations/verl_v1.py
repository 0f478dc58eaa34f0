"""A zpd curriculum in verl 0.9's v1 trainer (``trainer.use_v1=true``, ``trainer_mode=sync``).

verl 0.8 removed the curriculum-sampler hook zpd used in 0.7 (``AbstractCurriculumSampler``,
``data.sampler.class_path``, the ``sampler.update(batch)`` call; PR #6302), and the v1 trainer's
``StatefulDataLoader`` takes no sampler option. Two of its documented extension points carry the
route (facts in ``shared/hosts/verl-0.9.md``), with plain verl hydra overrides::

    data.custom_cls.path=pkg://zpd.integrations.verl_v1
    data.custom_cls.name=ZPDRLHFDataset              # stamps zpd_id = row on every prompt
    trainer.v1.sampler.custom_sampler.path=pkg://zpd.integrations.verl_v1
    trainer.v1.sampler.custom_sampler.name=ZPDReplayBuffer
    data.dataloader_num_workers=0
    +trainer.v1.sampler.sampler_kwargs.zpd.group_size=8   # = actor_rollout_ref.rollout.n
    +trainer.v1.sampler.sampler_kwargs.zpd.policy=zpd     # optional: seed, reward_range, ...

* **Choosing prompts before rollout.** :class:`ZPDReplayBuffer` is verl's own ``ReplayBuffer``
  (DAPO filtering, refills, staleness: unchanged) built with the same arguments verl gives its
  built-in one. When the trainer builds its dataloader it puts a :class:`CurriculumBatchSampler`
  in it, so every fetch (``train_batch_size`` prompts, or one at a time under DAPO) is the
  curriculum's pick at that moment.
* **Updating in the same step.** Every finished group that leaves the buffer feeds the
  curriculum once: the groups :meth:`ZPDReplayBuffer.sample` hands to training, and the groups
  it evicts (DAPO's zero-variance groups, stale ones) in ``_clear_groups``. Rewards are verl's
  ``rm_scores`` (summed over tokens) from TransferQueue; the item is the ``zpd_id`` column
  :class:`ZPDRLHFDataset` added. The dropped rollouts verl does not count are counted:
  ``curriculum/rollouts_dropped`` next to ``curriculum/rollouts``, logged by verl's tracker with
  the other ``curriculum/*`` metrics.
* **Checkpoints.** The sampler's ``state_dict`` (the curriculum's full state, JSON-ready) rides
  in the dataloader state verl saves to ``global_step_N/data.pt`` and restores on resume, so a
  resumed run draws the prompts an uninterrupted one would.
* **Group sizes.** :meth:`ZPDReplayBuffer.set_group_sizes` sets a rollout count per prompt,
  written as verl's per-prompt ``__rollout_n__`` when the prompt is fetched (a later feature will
  choose them); groups of any size update the curriculum.

Lag: ``trainer_mode=sync`` draws each step's prompts after the last step's groups were fed (no
lag); the async modes dispatch prompts ahead, so their picks are one or more steps stale (not
tested here). What it is not: a fork of verl's trainer, loss or rollout; verl is imported only
when this module is. Supported: verl 0.9.x (checked on 0.9.1); 0.7.x uses
:mod:`zpd.integrations.verl`.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from zpd.integrations._versions import check_host

check_host("verl-0.9")  # before importing the host: a clear error, not an ImportError

import transfer_queue as tq
from torch.utils.data import Sampler
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer
from verl.utils.dataset.rl_dataset import RLHFDataset

from zpd.integrations._errors import IntegrationError
from zpd.integrations._metrics import reward_metrics
from zpd.integrations._rewards import to_unit
from zpd.integrations._verl_options import CurriculumOptions

__all__ = ["CurriculumBatchSampler", "V1Options", "ZPDRLHFDataset", "ZPDReplayBuffer",
           "group_rewards"]

ID_FIELD = "zpd_id"
"""The dataset column (and TransferQueue field) holding each prompt's item id (its row)."""


@dataclass(frozen=True)
class V1Options(CurriculumOptions):
    """Options read from ``trainer.v1.sampler.sampler_kwargs.zpd``."""

    WHERE: ClassVar[str] = "trainer.v1.sampler.sampler_kwargs.zpd"

    @staticmethod
    def from_sampler_kwargs(kwargs: Any) -> V1Options:
        """Parse ``sampler_kwargs.zpd`` (an OmegaConf node or a dict)."""
        raw = (kwargs or {}).get("zpd") if hasattr(kwargs or {}, "get") else None
        if raw is None:
            raise IntegrationError(
                "ZPDReplayBuffer needs its options under trainer.v1.sampler.sampler_kwargs.zpd; "
                "at least +trainer.v1.sampler.sampler_kwargs.zpd.group_size=<rollout.n>")
        return V1Options.parse(raw)


class ZPDRLHFDataset(RLHFDataset):
    """verl's ``RLHFDataset`` plus the ``zpd_id`` column (the row position): the stable prompt
    id verl lacks (``extra_info.index`` defaults to 0), carried into TransferQueue with every
    other dataset column."""

    group_size_for: Any = None
    """Optional ``f(item_id) -> int``: rollouts for that prompt, written as verl's per-prompt
    ``__rollout_n__`` (set through :meth:`ZPDReplayBuffer.set_group_sizes`); None: verl's
    ``actor_rollout_ref.rollout.n`` for every prompt."""

    def __getitem__(self, item: int) -> dict[str, Any]:
        row = super().__getitem__(item)
        row[ID_FIELD] = int(item)
        if self.group_size_for is not None:
            n = self.group_size_for(int(item))
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 4096:
                raise IntegrationError(f"group size for item {item} must be an int in [1, 4096],"
                                       f" got {n!r}")
            row["__rollout_n__"] = int(n)
        return row


class CurriculumBatchSampler(Sampler[int]):
    """Yields the curriculum's picks, ``batch_size`` distinct items per dataloader fetch, drawn
    only when the loader asks (``num_workers=0``), so each pick sees every update before it.

    ``state_dict`` holds the curriculum's whole state (arrays as base64 ``.npz``: JSON-ready, no
    pickle of zpd objects), which verl's ``StatefulDataLoader`` saves in ``data.pt``."""

    def __init__(self, curriculum: Any, batch_size: int, num_rows: int) -> None:
        if batch_size < 1 or batch_size > curriculum.num_items:
            raise IntegrationError(f"a dataloader fetch of {batch_size} prompts cannot be drawn "
                                   f"from {curriculum.num_items} items")
        self.curriculum = curriculum
        self.batch_size = int(batch_size)
        self.num_rows = int(num_rows)
        self.drawn = 0  # prompts handed to the loader
        self.fed = 0  # groups the curriculum learned from

    def __len__(self) -> int:
        return self.num_rows  # an "epoch" of picks as long as the dataset, as verl expects

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.num_rows // self.batch_size):
            ids = np.asarray(self.curriculum.sample(self.batch_size), dtype=np.int64)
            for i in ids.tolist():
                self.drawn += 1
                yield int(i)

    def update(self, ids: Sequence[int], rewards: Sequence[Sequence[float]]) -> dict[str, float]:
        """Feed groups (one item id and its rewards in [0, 1] each; sizes may differ)."""
        flat = np.asarray(ids, dtype=np.int64)  # (B,)
        predicted = np.asarray(self.curriculum.estimate(flat).mean, dtype=np.float64)  # (B,)
        by_size: dict[int, list[int]] = defaultdict(list)
        for k, r in enumerate(rewards):
            by_size[len(r)].append(k)
        for rows in by_size.values():
            self.curriculum.update(flat[rows], np.asarray([rewards[k] for k in rows],
                                                          dtype=np.float64))
        self.fed += len(ids)
        means = np.asarray([float(np.mean(r)) for r in rewards])  # (B,)
        mixed = np.asarray([max(r) > min(r) for r in rewards])  # (B,) as zpd.informative
        return {**reward_metrics(self.curriculum, means, mixed, predicted),
                "curriculum/groups_fed": float(self.fed)}

    def state_dict(self) -> dict[str, Any]:
        sd = self.curriculum.state_dict()
        buf = io.BytesIO()
        np.savez(buf, **sd["arrays"])
        return {"zpd": 1, "header": sd["header"],
                "arrays": base64.b64encode(buf.getvalue()).decode("ascii"),
                "drawn": self.drawn, "fed": self.fed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("zpd") != 1:
            raise IntegrationError("data.pt holds no zpd curriculum state for this sampler; "
                                   "resume only from checkpoints of a zpd run")
        raw = base64.b64decode(state["arrays"])
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        self.curriculum.load_state_dict({"header": state["header"], "arrays": arrays})
        self.drawn, self.fed = int(state["drawn"]), int(state["fed"])


def group_rewards(keys: Sequence[str], fields: Any, reward_range: tuple[float, float]
                  ) -> tuple[list[int], list[list[float]]]:
    """Item ids and per-group rewards in [0, 1] from TransferQueue trajectories (``keys`` are
    ``{uid}_{session}_{i}``; ``fields`` hold ``rm_scores`` and ``zpd_id`` in the same order).
    Multi-turn outputs of one session count once (their last index)."""
    scores = list(fields["rm_scores"])
    ids = [int(getattr(v, "data", v)) if not hasattr(v, "item") else int(v.item())
           for v in list(fields[ID_FIELD])]
    last: dict[tuple[str, str], tuple[int, float, int]] = {}
    for key, s, i in zip(keys, scores, ids, strict=True):
        uid, session, idx = key.rsplit("_", 2)
        value = float(s.sum().item()) if hasattr(s, "sum") else float(s)
        prev = last.get((uid, session))
        if prev is None or int(idx) >= prev[2]:
            last[(uid, session)] = (i, value, int(idx))
    groups: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for (uid, _), (i, value, _) in last.items():
        groups[uid].append((i, value))
    out_ids, out_rewards = [], []
    for uid, members in groups.items():
        items = {i for i, _ in members}
        if len(items) != 1:
            raise IntegrationError(f"the sessions of prompt {uid} carry different {ID_FIELD} "
                                   f"values {sorted(items)}")
        r, outside = to_unit([v for _, v in members], reward_range)
        if outside.any() or np.isnan(r).any():
            raise IntegrationError(f"scores {[v for _, v in members]} fall outside "
                                   f"zpd.reward_range={list(reward_range)}; set it to the "
                                   "score's bounds")
        out_ids.append(items.pop())
        out_rewards.append(r.tolist())
    return out_ids, out_rewards


class ZPDReplayBuffer(ReplayBuffer):
    """verl's sync ``ReplayBuffer`` that also feeds a zpd curriculum (see the module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        refill = kwargs.get("refill_fn")
        trainer = getattr(refill, "__self__", None)
        if trainer is None or kwargs.get("trainer_mode") != "sync":
            raise IntegrationError(
                "ZPDReplayBuffer runs inside verl's v1 trainer in trainer_mode=sync (async modes "
                "dispatch prompts ahead of the rewards); set trainer.v1.trainer_mode=sync")
        self.zpd = V1Options.from_sampler_kwargs(kwargs.get("sampler_kwargs"))
        self.trainer = trainer
        super().__init__(**kwargs, **_builtin_kwargs(trainer))
        self.sampler: CurriculumBatchSampler | None = None
        self.rollouts = 0
        self.rollouts_dropped = 0
        self._pending_metrics: dict[str, float] = {}
        original = trainer._init_dataloader

        def init_dataloader() -> None:  # verl builds its loader, then zpd swaps the sampler in
            original()
            self._install()

        trainer._init_dataloader = init_dataloader

    # -- the sampler ---------------------------------------------------------------------------

    def _install(self) -> None:
        from torchdata.stateful_dataloader import StatefulDataLoader

        from zpd.core.curriculum import Curriculum

        t = self.trainer
        loader = t.train_dataloader
        if not isinstance(t.train_dataset, ZPDRLHFDataset):
            raise IntegrationError(
                "the training dataset does not stamp zpd_id: set data.custom_cls.path="
                "pkg://zpd.integrations.verl_v1 and data.custom_cls.name=ZPDRLHFDataset")
        if loader.num_workers != 0:
            raise IntegrationError("set data.dataloader_num_workers=0: workers prefetch prompts "
                                   "before the curriculum sees the last rewards")
        n = len(t.train_dataset)
        cur = Curriculum(num_items=n, policy=self.zpd.policy, group_size=self.zpd.group_size,
                         seed=self.zpd.seed)
        self.sampler = CurriculumBatchSampler(cur, loader.batch_size, n)
        t.train_dataloader = StatefulDataLoader(
            dataset=t.train_dataset, batch_size=loader.batch_size, num_workers=0,
            drop_last=True, collate_fn=loader.collate_fn, sampler=self.sampler)

    def set_group_sizes(self, fn: Any) -> None:
        """Rollouts per prompt from now on: ``fn(item_id) -> int`` (None: verl's
        ``rollout.n``). verl reads it as the prompt's ``__rollout_n__`` when the prompt is
        fetched; groups of any size feed the curriculum."""
        if self.sampler is None:
            raise IntegrationError("set group sizes after verl's trainer built its dataloader")
        self.trainer.train_dataset.group_size_for = fn

    @property
    def curriculum(self) -> Any:
        """The curriculum (after the trainer built its dataloader)."""
        if self.sampler is None:
            raise IntegrationError("the curriculum exists once verl's trainer ran init()")
        return self.sampler.curriculum

    # -- feeding -------------------------------------------------------------------------------

    def _feed(self, partition_id: str, keys: Sequence[str], dropped: bool) -> None:
        if partition_id != "train" or self.sampler is None or not keys:
            return
        fields = tq.kv_batch_get(keys=list(keys), partition_id=partition_id,
                                 select_fields=["rm_scores", ID_FIELD])
        ids, rewards = group_rewards(keys, fields, self.zpd.reward_range)
        if not ids:
            return
        metrics = self.sampler.update(ids, rewards)
        n = sum(len(r) for r in rewards)
        self.rollouts += n
        self.rollouts_dropped += n if dropped else 0
        self._pending_metrics = {**metrics, "curriculum/rollouts": float(self.rollouts),
                                 "curriculum/rollouts_dropped": float(self.rollouts_dropped)}

    def _clear_groups(self, partition_id: str, uids: set[str]) -> None:
        finished = {u for u in uids if u in self.finished_keys[partition_id]}
        keys = [k for k in self.partitions[partition_id]
                if k.split("_")[0] in finished and not self.partitions[partition_id][k].get(
                    "is_padding", False)]
        self._feed(partition_id, keys, dropped=True)  # before verl deletes them
        super()._clear_groups(partition_id, uids)

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[Any, dict]:
        batch, metrics = super().sample(global_steps, partition_id, batch_size)
        keys = [k for k, tag in zip(batch.keys, batch.tags) if not tag.get("is_padding", False)]
        self._feed(partition_id, keys, dropped=False)
        metrics = dict(metrics)
        metrics.update(self._pending_metrics)
        self._pending_metrics = {}
        return batch, metrics


def _builtin_kwargs(trainer: Any) -> dict[str, Any]:
    """The arguments verl's ``_build_replay_buffer`` gives its built-in sync buffer (it gives a
    custom one none of them), so DAPO filtering and refills behave as without zpd."""
    metric = trainer._resolve_filter_groups_metric()
    sampler_config = trainer.config.trainer.v1.sampler
    refill_failed = bool(sampler_config.get("sync_refill_failed_groups", False))
    filter_groups = trainer.config.algorithm.get("filter_groups", None)
    train_batch_size = trainer.config.data.train_batch_size
    return {
        "filter_groups_metric": metric,
        "sync_refill_failed_groups": refill_failed,
        "train_batch_size": train_batch_size,
        "gen_batch_size": 1 if metric is not None or refill_failed
        else (trainer.config.data.get("gen_batch_size", None) or train_batch_size),
        "max_inflight_gen_batches": filter_groups.get("max_inflight_gen_batches", 1)
        if metric is not None else 1,
    }
