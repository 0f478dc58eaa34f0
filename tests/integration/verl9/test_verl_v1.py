"""The verl 0.9 route through verl's own v1 trainer, config, dataloader and TransferQueue (CPU).

Runs in the verl 0.9 environment (``scripts/verl_env.sh 0.9``). What is real: verl's hydra config
(``ppo_trainer.yaml``) with the documented overrides, ``PPOTrainerSync.__init__`` (which builds
the ZPDReplayBuffer through ``trainer.v1.sampler.custom_sampler``), ``_init_tokenizer``,
``_init_dataloader`` and ``_next_train_batch`` (the prompts each step generates from), a real
TransferQueue (Ray) holding the trajectories' ``rm_scores`` and dataset columns, verl's
``ReplayBuffer.sample`` with DAPO filtering, and the dataloader state verl writes to ``data.pt``.
What is replaced: the rollout workers (GPU engines), whose trajectories the test writes into
TransferQueue the way ``AgentLoopWorkerTQ`` does (keys ``{uid}_{session}_{i}``, every dataset
column as a field, ``rm_scores`` per token).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import verl
from hydra import compose, initialize_config_dir

from zpd.core.curriculum import Curriculum
from zpd.integrations._errors import IntegrationError
from zpd.integrations.toy import build_tiny_model, toy_verl_rows
from zpd.integrations.verl_v1 import (
    CurriculumBatchSampler,
    ZPDReplayBuffer,
    group_rewards,
)

pytestmark = pytest.mark.integration
N_ROLL, BATCH = 4, 3


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("verl9")
    pd.DataFrame(toy_verl_rows()).to_parquet(d / "train.parquet")
    return build_tiny_model(d / "model"), d


def _config(files: tuple[Path, Path], *extra: str, zpd: bool = True) -> Any:
    model, d = files
    over = [
        f"data.train_files={d / 'train.parquet'}", f"data.val_files={d / 'train.parquet'}",
        f"data.train_batch_size={BATCH}", "data.dataloader_num_workers=0",
        "data.filter_overlong_prompts=False", f"actor_rollout_ref.model.path={model}",
        f"actor_rollout_ref.rollout.n={N_ROLL}", f"trainer.default_local_dir={d / 'ckpt'}",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=2",
    ]
    if zpd:
        over += [
            "data.custom_cls.path=pkg://zpd.integrations.verl_v1",
            "data.custom_cls.name=ZPDRLHFDataset",
            "trainer.v1.sampler.custom_sampler.path=pkg://zpd.integrations.verl_v1",
            "trainer.v1.sampler.custom_sampler.name=ZPDReplayBuffer",
            f"+trainer.v1.sampler.sampler_kwargs.zpd.group_size={N_ROLL}",
        ]
    with initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer/config"),
                               version_base=None):
        return compose(config_name="ppo_trainer", overrides=[*over, *extra])


def _trainer(cfg: Any) -> Any:
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    tr = PPOTrainerSync(config=cfg)  # verl builds the replay buffer from the config
    tr._init_tokenizer()
    tr._init_dataloader()  # the steps of trainer.init() that touch the data
    tr.global_steps = 1
    return tr


def _draw(tr: Any) -> tuple[list[int], list[str]]:
    batch = tr._next_train_batch()
    return [int(x) for x in batch["zpd_id"]], [str(u) for u in batch["uid"]]


def test_verls_trainer_draws_each_step_from_the_curriculum(files) -> None:
    cfg = _config(files)
    assert cfg.trainer.use_v1 and cfg.trainer.v1.trainer_mode == "sync"  # verl's defaults
    tr = _trainer(cfg)
    assert isinstance(tr.replay_buffer, ZPDReplayBuffer)
    assert isinstance(tr.train_dataloader.sampler, CurriculumBatchSampler)
    twin = Curriculum(18, group_size=N_ROLL, seed=0)
    for _ in range(3):
        ids, uids = _draw(tr)
        assert ids == twin.sample(BATCH).tolist() and len(set(uids)) == BATCH
    # the step count verl plans from the loader's length is unchanged
    assert len(tr.train_dataloader) == 18 // BATCH
    # a group size per prompt reaches verl as the prompt's __rollout_n__
    tr.replay_buffer.set_group_sizes(lambda item: 2 + item % 3)
    batch = tr._next_train_batch()
    ids = [int(x) for x in batch["zpd_id"]]
    assert [int(n) for n in batch["__rollout_n__"]] == [2 + i % 3 for i in ids]


def _put_step(tr: Any, ids: list[int], uids: list[str], rewards: list[list[float]]) -> None:
    """What the rollout workers leave in TransferQueue for one step (sync mode)."""
    import transfer_queue as tq
    from tensordict import TensorDict

    tq.kv_batch_put(keys=uids, partition_id="train",
                    tags=[{"is_prompt": True, "status": "finished", "global_steps": 1}] * len(uids))
    keys, tags, scores, zid = [], [], [], []
    for uid, i, rs in zip(uids, ids, rewards):
        for s, r in enumerate(rs):
            keys.append(f"{uid}_{s}_0")
            tags.append({"status": "success", "global_steps": 1, "min_global_steps": 1,
                         "max_global_steps": 1, "prompt_len": 3, "response_len": 2,
                         "seq_len": 5})
            scores.append(torch.tensor([0.0, r]))  # the score sits on the last token
            zid.append(i)
    fields = TensorDict({"rm_scores": torch.nested.as_nested_tensor(scores, layout=torch.jagged),
                         "zpd_id": torch.tensor(zid)}, batch_size=len(keys))
    tq.kv_batch_put(keys=keys, partition_id="train", fields=fields, tags=tags)


@pytest.fixture(scope="module")
def transfer_queue(files) -> Any:
    import ray
    import transfer_queue as tq

    cfg = _config(files)
    # TransferQueue starts a controller and storage units at 1 CPU each: give Ray the CPUs
    ray.init(num_cpus=4, include_dashboard=False)
    cfg.transfer_queue.enable = True
    tq.init(cfg.transfer_queue)
    yield tq
    tq.close()
    ray.shutdown()


def test_rewards_in_transferqueue_reach_the_curriculum_once_dapo_drops_too(
        files, transfer_queue) -> None:
    cfg = _config(files, "algorithm.filter_groups.enable=true",
                  "algorithm.filter_groups.metric=reward")
    tr = _trainer(cfg)
    rb = tr.replay_buffer
    rb.poll_interval = 0.05
    twin = Curriculum(18, group_size=N_ROLL, seed=0)
    assert tr.train_dataloader.batch_size == 1  # verl fetches one prompt at a time under DAPO
    batch = tr._next_train_batch(5)  # five one-prompt fetches, as DAPO's refills make
    ids, uids = [int(x) for x in batch["zpd_id"]], [str(u) for u in batch["uid"]]
    assert ids == [int(twin.sample(1)[0]) for _ in range(5)]  # the curriculum's picks
    # three groups with mixed rewards (trained), two all-zero groups (DAPO evicts them)
    rewards = [[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0],
               [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
    _put_step(tr, ids, uids, rewards)
    before = copy.deepcopy(rb.curriculum)
    batch, metrics = rb.sample(global_steps=1, partition_id="train", batch_size=3)
    trained = {k.split("_")[0] for k in batch.keys}
    assert trained == {uids[0], uids[2], uids[4]}
    assert metrics["training/filter_groups/evicted_samples"] == 2  # verl's own count of groups
    assert metrics["curriculum/rollouts"] == 20 and metrics["curriculum/rollouts_dropped"] == 8
    assert rb.sampler.fed == 5  # every group exactly once: 3 trained + 2 dropped
    # the curriculum saw exactly these rewards (dropped groups first, as verl evicts first)
    before.update(np.array([ids[1], ids[3]]), np.array([rewards[1], rewards[3]]))
    before.update(np.array([ids[0], ids[2], ids[4]]), np.array([rewards[0], rewards[2],
                                                                 rewards[4]]))
    all_ids = np.arange(18)
    np.testing.assert_allclose(before.estimate(all_ids).mean, rb.curriculum.estimate(all_ids).mean)


def test_group_rewards_groups_sessions_and_checks_bounds() -> None:
    keys = ["u1_0_0", "u1_1_0", "u1_1_1", "u2_0_0"]  # session 1 of u1 has two turns: last counts
    fields = {"rm_scores": [torch.tensor([0.0, 1.0]), torch.tensor([0.0]),
                            torch.tensor([1.0]), torch.tensor([0.0, 0.0])],
              "zpd_id": [torch.tensor(7), torch.tensor(7), torch.tensor(7), torch.tensor(2)]}
    ids, rewards = group_rewards(keys, fields, (0.0, 1.0))
    assert dict(zip(ids, rewards)) == {7: [1.0, 1.0], 2: [0.0]}
    with pytest.raises(IntegrationError, match="reward_range"):
        group_rewards(keys, fields, (0.0, 0.5))
    fields["zpd_id"][1] = torch.tensor(3)
    with pytest.raises(IntegrationError, match="different zpd_id"):
        group_rewards(keys[:2], {k: v[:2] for k, v in fields.items()}, (0.0, 1.0))


def test_data_pt_restores_the_curriculum_and_the_next_prompts(files, tmp_path) -> None:
    tr = _trainer(_config(files))
    first, _ = _draw(tr)
    tr.replay_buffer.sampler.update(first, [[1.0, 0.0, 1.0, 0.0]] * BATCH)
    _draw(tr)
    torch.save(tr.train_dataloader.state_dict(), tmp_path / "data.pt")  # what verl saves
    expected, _ = _draw(tr)
    again = _trainer(_config(files))
    # what verl's _load_checkpoint does with global_step_N/data.pt
    again.train_dataloader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))
    got, _ = _draw(again)
    assert got == expected


def test_misconfigurations_are_clear_errors(files) -> None:
    with pytest.raises(IntegrationError, match="ZPDRLHFDataset"):
        _trainer(_config(files, "data.custom_cls.path=null"))
    with pytest.raises(IntegrationError, match="group_size"):
        _trainer(_config(files, "trainer.v1.sampler.sampler_kwargs.zpd.group_size=0"))
    with pytest.raises(IntegrationError, match="unknown trainer.v1.sampler.sampler_kwargs.zpd keys"):
        _trainer(_config(files, "+trainer.v1.sampler.sampler_kwargs.zpd.bogus=1"))
