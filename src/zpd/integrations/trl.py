"""Train TRL's ``GRPOTrainer`` on a zpd curriculum: ``ZPDGRPOTrainer``.

What it is: a subclass of ``trl.GRPOTrainer`` (TRL >= 1.0, checked on 1.16) with five small
overrides, because TRL offers no sampler option and no advantage hook:

* ``_get_train_sampler`` returns a :class:`~zpd.integrations.torch.CurriculumSampler` that draws
  ``generation_batch_size / num_generations`` picks per generation batch, repeats each pick
  ``num_generations`` times and the block ``num_iterations * steps_per_generation`` times, as
  TRL's ``RepeatSampler`` does. Every rank holds the same curriculum (same seed) and applies the
  same gathered updates, so every rank yields the same sequence.
* ``_calculate_rewards`` gathers the item-id column (``zpd_id``) and the rewards of all processes
  and sends them, one (picks, G) block per generation batch, to ``Curriculum.update``; the
  ``curriculum/...`` metrics go to TRL's own metric store, so they reach ``trainer.log``,
  callbacks and every ``report_to`` backend.
* ``_save_checkpoint`` / ``_load_optimizer_and_scheduler`` save the curriculum and the sampler's
  ledger into each ``checkpoint-N`` folder (no pickle) and restore them on
  ``train(resume_from_checkpoint=...)``. Data skipping is turned off (``ignore_data_skip``):
  the curriculum's state, not a position in a fixed permutation, decides what comes next, and
  batches drawn but never trained on are replayed, so a resumed run draws what an uninterrupted
  one would.
* ``_generate_and_score_completions`` (only with ``advantage=``): replaces the ``advantages``
  entry of its output with zpd's (GRPO, Dr. GRPO or the tracker-informed baseline computed from
  the posterior before this batch's update). TRL computes advantages inline in that 600-line
  method, so this is a post-hoc replacement of one output key, not a hook; TRL's own logged
  ``advantages`` (completions table) still show its values.

The one-batch lag: TRL's dataloader (accelerate's ``DataLoaderShard``) fetches one batch ahead.
When a drawn block is used by only one batch (``num_iterations * steps_per_generation == 1``,
TRL's default with ``gradient_accumulation_steps=1``) the picks for generation batch k+1 are drawn
before batch k's rewards arrive: they use a posterior one batch old (``curriculum/staleness`` =
1). With ``steps_per_generation >= 2`` or ``num_iterations >= 2`` the next draw happens after the
update and the lag is 0. ``dataloader_num_workers > 0`` adds the workers' prefetch to the lag.

What it is not: a fork of TRL's loss or generation; not for ``IterableDataset`` training sets;
item ids are dataset row indices (add them with :func:`add_id_column`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zpd.integrations._versions import check_host

check_host("trl")  # before importing the host: a clear error, not an ImportError

import torch
from accelerate.utils import gather_object
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOTrainer

from zpd.core.config import AdvantageKind
from zpd.integrations._errors import IntegrationError
from zpd.integrations._persist import has_bundle
from zpd.integrations._rewards import to_unit
from zpd.integrations.torch import CurriculumSampler

__all__ = ["TRLCurriculumConfig", "ZPDGRPOTrainer", "add_id_column"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TRLCurriculumConfig:
    """How ``ZPDGRPOTrainer`` connects a curriculum to TRL."""

    id_column: str = "zpd_id"
    """Dataset column holding each row's item id (== row index); it reaches the reward call."""
    curriculum_reward: str | None = None
    """Name of the reward function whose output the curriculum tracks (e.g. correctness, not
    format); None: TRL's weighted sum of all reward functions."""
    reward_range: tuple[float, float] = (0.0, 1.0)
    """(low, high) of that reward; it is mapped linearly to [0, 1] for the curriculum."""
    advantage: AdvantageKind | None = None
    """None keeps TRL's advantages; "grpo", "dr_grpo" or "tracker" replaces them with zpd's."""
    record: bool = False
    """Keep every draw in ``trainer.zpd_sampler.history`` (tests, examples)."""

    def __post_init__(self) -> None:
        if not isinstance(self.id_column, str) or not self.id_column:
            raise IntegrationError(f"id_column must be a non-empty str, got {self.id_column!r}")
        lo, hi = (float(x) for x in self.reward_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise IntegrationError(
                f"reward_range must be finite (low, high) with low < high, got {self.reward_range}"
            )
        object.__setattr__(self, "reward_range", (lo, hi))
        if self.advantage is not None:
            object.__setattr__(self, "advantage", AdvantageKind.parse(self.advantage))
        if self.advantage is not None and self.curriculum_reward is not None:
            raise IntegrationError(
                "advantage= replaces the advantage of the whole training reward, but "
                f"curriculum_reward={self.curriculum_reward!r} makes the curriculum track only "
                "one reward function; use one of the two, or a single reward function"
            )


def add_id_column(dataset: Any, column: str = "zpd_id") -> Any:
    """Return ``dataset`` (a ``datasets.Dataset``) with ``column`` = row index."""
    if column in dataset.column_names:
        raise IntegrationError(f"the dataset already has a {column!r} column; pick another name")
    return dataset.add_column(column, list(range(len(dataset))))


class ZPDGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose prompts are picked by ``curriculum`` (a :class:`zpd.Curriculum`).

    Same arguments as ``GRPOTrainer``, plus ``curriculum`` and either ``zpd_config`` or its
    fields as keywords (``id_column``, ``curriculum_reward``, ``reward_range``, ``advantage``,
    ``record``). ``args.max_steps`` must be set: a curriculum has no epochs. Advantage kinds:
    GRPO (arXiv 2402.03300), Dr. GRPO (arXiv 2503.20783), tracker-informed (``zpd.advantage``).
    """

    def __init__(
        self,
        *args: Any,
        curriculum: Any,
        zpd_config: TRLCurriculumConfig | None = None,
        **kwargs: Any,
    ) -> None:
        fields = {"id_column", "curriculum_reward", "reward_range", "advantage", "record"}
        zpd_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
        if zpd_config is not None and zpd_kwargs:
            raise IntegrationError(
                f"pass zpd_config or its fields {sorted(zpd_kwargs)} as keywords, not both"
            )
        self.zpd_config = zpd_config or TRLCurriculumConfig(**zpd_kwargs)
        self.curriculum = curriculum
        self._zpd_advantages: torch.Tensor | None = None
        super().__init__(*args, **kwargs)
        self._zpd_check_dataset()
        self._zpd_reward_index = self._zpd_find_reward()
        self.zpd_sampler = self._zpd_build_sampler()

    # -- set-up checks ---------------------------------------------------------------------------

    def _zpd_check_dataset(self) -> None:
        data, col = self.train_dataset, self.zpd_config.id_column
        if data is None or not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
            raise IntegrationError(
                "ZPDGRPOTrainer needs a map-style train_dataset (datasets.Dataset); an "
                "IterableDataset cannot be indexed by the curriculum's picks"
            )
        if len(data) != self.curriculum.num_items:
            raise IntegrationError(
                f"train_dataset has {len(data)} rows but the curriculum {self.curriculum.num_items}"
                " items; build the curriculum with num_items=len(train_dataset)"
            )
        if getattr(self.curriculum, "group_size", self.num_generations) != self.num_generations:
            raise IntegrationError(
                f"the curriculum has group_size={self.curriculum.group_size} but TRL rolls out "
                f"num_generations={self.num_generations} per prompt; build the curriculum with "
                "group_size=num_generations"
            )
        names = getattr(data, "column_names", None) or []
        if col not in names:
            raise IntegrationError(
                f"train_dataset has no {col!r} column; add it with "
                f"zpd.integrations.trl.add_id_column(dataset, {col!r})"
            )
        if not np.array_equal(np.asarray(data[col]), np.arange(len(data))):
            raise IntegrationError(
                f"column {col!r} must equal the row index (0..{len(data) - 1}); rebuild it with "
                "add_id_column after any filtering or shuffling"
            )

    def _zpd_find_reward(self) -> int | None:
        name = self.zpd_config.curriculum_reward
        if name is None:
            return None
        if name not in self.reward_func_names:
            raise IntegrationError(
                f"curriculum_reward={name!r} is not one of the reward functions "
                f"{self.reward_func_names}"
            )
        return int(self.reward_func_names.index(name))

    def _zpd_build_sampler(self) -> CurriculumSampler:
        a = self.args
        if a.max_steps is None or a.max_steps <= 0:
            raise IntegrationError(
                "ZPDGRPOTrainer needs GRPOConfig(max_steps=...) > 0: a curriculum has no epochs"
            )
        block = self.num_iterations * a.steps_per_generation  # batches that reuse one draw
        if a.dataloader_num_workers > 0:
            logger.warning("dataloader_num_workers > 0 prefetches batches: picks will be stale")
        if a.save_strategy == "steps" and a.save_steps >= 1 and (
            int(a.save_steps) * a.gradient_accumulation_steps % block
        ):
            logger.warning(
                "checkpoints fall inside a generation block (save_steps * grad_accum is not a "
                "multiple of num_iterations * steps_per_generation): a resumed run skips the "
                "rest of that block's reuse"
            )
        if not a.ignore_data_skip:
            a.ignore_data_skip = True  # the curriculum state, not a data position, is resumed
        return CurriculumSampler(
            self.curriculum,
            a.generation_batch_size // self.num_generations,
            num_batches=-(-a.max_steps * a.gradient_accumulation_steps // block),
            repeat_each=self.num_generations,
            repeat_batch=block,
            record=self.zpd_config.record,
        )

    # -- TRL overrides ---------------------------------------------------------------------------

    def _get_train_sampler(self, dataset: Any = None) -> CurriculumSampler:
        return self.zpd_sampler

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if self.zpd_config.id_column not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, self.zpd_config.id_column]

    def _calculate_rewards(  # type: ignore[no-untyped-def]
        self, inputs, prompts, completions, completion_ids_list
    ):
        rewards_per_func = super()._calculate_rewards(
            inputs, prompts, completions, completion_ids_list
        )  # (B*G, F), gathered over processes
        if self.model.training:
            self._zpd_feed(inputs, rewards_per_func, len(prompts))
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):  # type: ignore[no-untyped-def]
        output = super()._generate_and_score_completions(inputs)
        advantages, self._zpd_advantages = self._zpd_advantages, None
        if advantages is not None:
            theirs = output["advantages"]
            if theirs.shape != advantages.shape:
                raise IntegrationError(
                    f"TRL's advantages have shape {tuple(theirs.shape)}, zpd's "
                    f"{tuple(advantages.shape)}: this TRL version changed its batch layout"
                )
            output["advantages"] = advantages.to(device=theirs.device, dtype=theirs.dtype)
        return output

    def _save_checkpoint(self, model, trial):  # type: ignore[no-untyped-def]
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            self.zpd_sampler.save(Path(self._get_output_dir(trial=trial)) / folder)

    def _load_optimizer_and_scheduler(self, checkpoint):  # type: ignore[no-untyped-def]
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        if not has_bundle(checkpoint):
            raise IntegrationError(
                f"checkpoint {checkpoint} holds no zpd curriculum state (zpd_bundle.json); resume "
                "only from checkpoints written by ZPDGRPOTrainer"
            )
        self.zpd_sampler.load(checkpoint)

    # -- rewards to the curriculum ---------------------------------------------------------------

    def _zpd_feed(self, inputs: list[dict[str, Any]], rewards_per_func: torch.Tensor,
                  n_local: int) -> None:
        """Group the gathered rewards by pick, update the curriculum, log, stash advantages."""
        g = self.num_generations
        col = self.zpd_config.id_column
        all_ids = np.asarray(gather_object([int(x[col]) for x in inputs]), dtype=np.int64)
        groups = all_ids.reshape(-1, g)  # (B, G)
        if not np.all(groups == groups[:, :1]):
            raise IntegrationError(
                f"the {g} completions of a group carry different {col!r} values; the train "
                "sampler was replaced or the batch was reordered before scoring"
            )
        ids = groups[:, 0]  # (B,)
        rewards = self._zpd_scaled_rewards(rewards_per_func).reshape(-1, g)  # (B, G)
        keep = ~np.isnan(rewards).any(axis=1)  # a completion no reward function scored
        if self.zpd_config.advantage is not None:
            self._zpd_stash_advantages(ids, rewards, keep, n_local)
        metrics = self.zpd_sampler.update(ids[keep], rewards[keep])
        for name, value in metrics.items():
            self._metrics["train"][name].append(value)

    def _zpd_scaled_rewards(self, rewards_per_func: torch.Tensor) -> np.ndarray:
        r = rewards_per_func.detach().float().cpu()
        if self._zpd_reward_index is None:
            weights = self.reward_weights.to(r.device).unsqueeze(0)  # (1, F)
            scored = ~torch.isnan(r).all(dim=1)
            total = (r * weights).nansum(dim=1)
            total[~scored] = torch.nan
        else:
            total = r[:, self._zpd_reward_index]
        x, bad = to_unit(total.numpy(), self.zpd_config.reward_range)  # (B*G,)
        if bad.any():
            raise IntegrationError(
                f"rewards {np.unique(total.numpy()[bad])[:5].tolist()} fall outside reward_range="
                f"{self.zpd_config.reward_range}; set reward_range to the reward's true bounds, "
                "or curriculum_reward to a bounded reward function"
            )
        return x

    def _zpd_stash_advantages(self, ids: np.ndarray, rewards: np.ndarray, keep: np.ndarray,
                              n_local: int) -> None:
        adv = np.zeros_like(rewards)  # (B, G); unscored groups get no signal, as in TRL
        if keep.any():
            kind = self.zpd_config.advantage
            adv[keep] = self.curriculum.advantage(ids[keep], rewards[keep], kind=kind.value)
        flat = torch.as_tensor(adv.reshape(-1), dtype=torch.float32)  # (B*G,) all processes
        start = self.accelerator.process_index * n_local
        self._zpd_advantages = flat[start : start + n_local]
