"""A zpd curriculum as verl's curriculum sampler (verl 0.7.x: ``data.sampler.class_path``).

What it is: :class:`ZPDCurriculumSampler`, an ``AbstractCurriculumSampler`` that verl's own
factory (``verl.trainer.main_ppo.create_rl_sampler``) builds from the config::

    data.sampler.class_path=pkg://zpd.integrations.verl
    data.sampler.class_name=ZPDCurriculumSampler
    data.dataloader_num_workers=0
    +data.sampler.zpd.group_size=8          # = actor_rollout_ref.rollout.n
    +data.sampler.zpd.policy=zpd            # optional: seed, reward_range, save_dir, init_from

Each dataloader batch (``data.gen_batch_size`` or ``data.train_batch_size`` prompts) is one draw
of distinct picks. After each step verl calls ``update(batch)`` with the step's ``DataProto``;
the sampler groups rows by ``non_tensor_batch["uid"]`` (verl may reorder rows to balance
sequence lengths), reads the item from ``non_tensor_batch["index"]`` (= ``extra_info.index`` of the
dataset row, distinct per row: see :func:`stamp_index`; mapped to the row position, since verl
may filter rows out) and the score
from ``token_level_scores`` summed over tokens, and updates the curriculum. verl's fit loop has no
lag (it draws a batch, trains on it, then calls ``update``).

Checkpoints: verl stores the dataloader state, and with it this sampler's ``state_dict``
(curriculum state + ledger of drawn-but-unrewarded batches), in ``global_step_N/data.pt`` (verl
pickles that file, zpd does not). Set ``save_dir`` for a pickle-free copy after every update.

Versions: verl 0.8 removed the curriculum-sampler hook (no ``AbstractCurriculumSampler``, nothing
calls ``update``), so this module supports verl 0.7.x only; see docs/integrations.md. What it is not: a reward function or a verl
fork; verl is imported only when this module is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zpd.integrations._versions import check_host

check_host("verl-0.7")  # before importing the host: a clear error, not an ImportError

from verl import DataProto
from verl.experimental.dataset.sampler import AbstractCurriculumSampler

from zpd.integrations._errors import IntegrationError
from zpd.integrations._ledger import DrawLedger
from zpd.integrations._persist import load_bundle
from zpd.integrations._rewards import to_unit
from zpd.integrations._verl_options import CurriculumOptions
from zpd.integrations.torch import CurriculumSampler

__all__ = ["VerlSamplerConfig", "ZPDCurriculumSampler", "group_scores", "stamp_index"]


@dataclass(frozen=True)
class VerlSamplerConfig(CurriculumOptions):
    """Options read from ``data.sampler.zpd`` of verl's config."""

    WHERE: ClassVar[str] = "data.sampler.zpd"

    save_dir: str | None = None
    """Folder for a pickle-free bundle (curriculum + ledger) after every update; None: none."""
    init_from: str | None = None
    """Bundle folder to start from (e.g. offline difficulty estimates); None: a fresh curriculum."""

    @staticmethod
    def from_data_config(data_config: Any) -> VerlSamplerConfig:
        """Parse ``data_config.sampler.zpd`` (an OmegaConf node or a dict)."""
        sampler = data_config.get("sampler") or {}
        raw = sampler.get("zpd") if hasattr(sampler, "get") else None
        if raw is None:
            raise IntegrationError(
                "ZPDCurriculumSampler needs options under data.sampler.zpd; at least "
                "+data.sampler.zpd.group_size=<actor_rollout_ref.rollout.n>"
            )
        return VerlSamplerConfig.parse(raw)


def stamp_index(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return copies of verl dataset rows with ``extra_info.index`` = row position (item id)."""
    out = []
    for i, row in enumerate(rows):
        extra = dict(row.get("extra_info") or {})
        extra["index"] = i
        out.append({**row, "extra_info": extra})
    return out


def group_scores(batch: DataProto, group_size: int,
                 reward_range: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Item ids (B,) and rewards (B, G) in [0, 1] from one step's ``DataProto``.

    Rows are grouped by ``uid`` in order of first appearance; each group must have ``group_size``
    rows sharing one ``index``.
    """
    for key in ("uid", "index"):
        if key not in batch.non_tensor_batch:
            raise IntegrationError(
                f"the DataProto has no non_tensor_batch[{key!r}]; ZPDCurriculumSampler.update "
                "expects the batch verl's PPO trainer passes after computing scores"
            )
    if "token_level_scores" not in batch.batch.keys():
        raise IntegrationError("the DataProto has no batch['token_level_scores'] (scores)")
    scores = batch.batch["token_level_scores"].sum(dim=-1).detach().double().cpu().numpy()  # (N,)
    uids = np.asarray(batch.non_tensor_batch["uid"]).astype(str)  # (N,)
    index = np.asarray(batch.non_tensor_batch["index"]).astype(np.int64)  # (N,)
    _, first, inverse, counts = np.unique(uids, return_index=True, return_inverse=True,
                                          return_counts=True)
    if np.any(counts != group_size):
        raise IntegrationError(
            f"groups of sizes {sorted(set(counts.tolist()))} in the batch, expected "
            f"data.sampler.zpd.group_size={group_size} (= actor_rollout_ref.rollout.n)"
        )
    order = np.argsort(first, kind="stable")  # groups by first appearance
    rows = np.argsort(inverse, kind="stable").reshape(-1, group_size)[order]  # (B, G) row numbers
    ids = index[rows]  # (B, G)
    if not np.all(ids == ids[:, :1]):
        raise IntegrationError("rows sharing a uid carry different extra_info.index values")
    rewards, outside = to_unit(scores[rows], reward_range)  # (B, G)
    if outside.any() or np.isnan(rewards).any():
        raise IntegrationError(
            f"sequence scores in [{scores.min()}, {scores.max()}] fall outside "
            f"data.sampler.zpd.reward_range={list(reward_range)}; set it to the score's bounds"
        )
    return ids[:, 0], rewards


def _row_of_index(data_source: Any) -> dict[int, int] | None:
    """Map each row's ``extra_info.index`` to its position (verl may filter rows out).

    None for a dataset without a ``dataframe`` carrying ``extra_info`` (then index == row).
    """
    frame = getattr(data_source, "dataframe", None)
    if frame is None or "extra_info" not in getattr(frame, "column_names", ()):
        return None
    index = [(e or {}).get("index") for e in frame["extra_info"]]
    if any(i is None for i in index) or len(set(index)) != len(index):
        raise IntegrationError(
            "every training row needs a distinct extra_info.index (the item id zpd tracks); "
            "stamp them with zpd.integrations.verl.stamp_index before writing the parquet"
        )
    return {int(i): row for row, i in enumerate(index)}


class ZPDCurriculumSampler(AbstractCurriculumSampler):
    """verl 0.7.x curriculum sampler backed by a :class:`zpd.Curriculum`."""

    def __init__(self, data_source: Sized, data_config: Any) -> None:
        self.options = VerlSamplerConfig.from_data_config(data_config)
        if data_config.get("dataloader_num_workers", 8) != 0:
            raise IntegrationError(
                "set data.dataloader_num_workers=0: workers prefetch batches before the "
                "curriculum sees the last rewards"
            )
        batch_size = int(data_config.get("gen_batch_size") or data_config.train_batch_size)
        self._row_of = _row_of_index(data_source)  # extra_info.index -> row position, or None
        curriculum = self._make_curriculum(len(data_source))
        self.inner = CurriculumSampler(
            curriculum, batch_size, num_batches=max(len(data_source) // batch_size, 1)
        )
        self.last_metrics: dict[str, float] = {}

    def _make_curriculum(self, num_items: int) -> Any:
        from zpd.core.curriculum import Curriculum

        o = self.options
        if o.init_from is None:
            return Curriculum(num_items=num_items, policy=o.policy,
                                  group_size=o.group_size, seed=o.seed)
        curriculum, _ = load_bundle(o.init_from)
        if curriculum.num_items != num_items:
            raise IntegrationError(
                f"init_from={o.init_from} holds {curriculum.num_items} items, the dataset has "
                f"{num_items}; start from a curriculum built for this dataset"
            )
        return curriculum

    @property
    def curriculum(self) -> Any:
        return self.inner.curriculum

    def __iter__(self) -> Iterator[int]:
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)

    def update(self, batch: DataProto) -> None:
        """Send one step's scores to the curriculum (called by verl after each step)."""
        ids, rewards = group_scores(batch, self.options.group_size, self.options.reward_range)
        if self._row_of is not None:
            unknown = [i for i in ids.tolist() if i not in self._row_of]
            if unknown:
                raise IntegrationError(
                    f"extra_info.index values {unknown[:5]} are not in the training dataset"
                )
            ids = np.array([self._row_of[i] for i in ids.tolist()], dtype=np.int64)
        self.last_metrics = self.inner.update(ids, rewards)
        if self.options.save_dir is not None:
            self.inner.save(Path(self.options.save_dir))

    def state_dict(self) -> dict[str, Any]:
        """Curriculum state and ledger, for verl's dataloader checkpoint."""
        return {"curriculum": self.curriculum.state_dict(), "ledger": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or not {"curriculum", "ledger"} <= set(state):
            raise IntegrationError(
                "not a ZPDCurriculumSampler state (keys 'curriculum' and 'ledger' expected)"
            )
        ledger = DrawLedger(self.curriculum, self.inner.batch_size)
        ledger.load_state_dict(state["ledger"])  # validate before touching anything
        self.curriculum.load_state_dict(state["curriculum"])
        self.inner.ledger = ledger
