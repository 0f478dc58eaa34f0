"""ZPDGRPOTrainer with the real TRL GRPOTrainer on a tiny local model (CPU, a few steps)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import AutoTokenizer
from trl import GRPOConfig

from zpd.core.curriculum import Curriculum
from zpd.integrations._errors import IntegrationError
from zpd.integrations._persist import MANIFEST, load_bundle
from zpd.integrations.toy import toy_reward, toy_rows
from zpd.integrations.trl import ZPDGRPOTrainer, add_id_column

pytestmark = pytest.mark.integration
G = 4


class Recorder:
    """A reward function that scores the toy task and remembers what it was asked to score."""

    __name__ = "toy"

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], list[float]]] = []
        self.on_call: Any = None

    def __call__(self, completions: list[str], zpd_id: list[int], **kw: Any) -> list[float]:
        rewards = toy_reward(completions, **kw)
        if self.on_call is not None:
            self.on_call(zpd_id, rewards)
        self.calls.append(([int(i) for i in zpd_id], rewards))
        return rewards


def _args(out: Path, **kw: Any) -> GRPOConfig:
    base = dict(output_dir=str(out), per_device_train_batch_size=12, num_generations=G,
                max_completion_length=4, max_steps=3, learning_rate=1e-3, bf16=False,
                gradient_checkpointing=False, use_cpu=True, report_to="none", logging_steps=1,
                save_strategy="no", seed=0, disable_tqdm=True)
    base.update(kw)
    return GRPOConfig(**base)


def _trainer(model: Path, args: GRPOConfig, reward: Any, *, data: Dataset | None = None,
             curriculum: Curriculum | None = None, **kw: Any) -> ZPDGRPOTrainer:
    data = data if data is not None else Dataset.from_list(toy_rows())
    cur = curriculum if curriculum is not None else Curriculum(len(data), group_size=G, seed=0)
    return ZPDGRPOTrainer(model=str(model), reward_funcs=reward, args=args, train_dataset=data,
                          processing_class=AutoTokenizer.from_pretrained(model),
                          curriculum=cur, record=True, **kw)


def _replay(trainer: ZPDGRPOTrainer, calls: list[tuple[list[int], list[float]]],
            start: Curriculum | None = None, first_update: int = 0,
            first_seq: int = 0) -> Curriculum:
    """Rebuild the curriculum in the order TRL used it (from ``start``); check every fresh pick."""
    cur = start if start is not None else Curriculum(trainer.curriculum.num_items, group_size=G,
                                                     seed=0)
    updates = [(np.array(i).reshape(-1, G)[:, 0], np.array(r).reshape(-1, G)) for i, r in calls]
    done = first_update
    for draw in trainer.zpd_sampler.history:
        if draw.seq < first_seq:  # drawn before the checkpoint, replayed after it
            continue
        while done < draw.updates_before:  # updates that had arrived when this batch was drawn
            cur.update(*updates[done - first_update])
            done += 1
        np.testing.assert_array_equal(cur.sample(draw.ids.size), draw.ids)
    for ids, rewards in updates[done - first_update:]:
        cur.update(ids, rewards)
    return cur


@pytest.mark.parametrize("steps_per_generation, lag", [(1, 1), (2, 0)])
def test_trained_prompts_are_the_curriculum_picks(tiny_model, tmp_path, steps_per_generation,
                                                  lag) -> None:
    reward = Recorder()
    tr = _trainer(tiny_model, _args(tmp_path, steps_per_generation=steps_per_generation,
                                    max_steps=4), reward)
    tr.train()
    history = tr.zpd_sampler.history
    # every generation batch TRL scored is one draw, each pick repeated num_generations times
    assert len(reward.calls) == tr.zpd_sampler.ledger.updates == 4 // steps_per_generation
    for (ids, _), draw in zip(reward.calls, history):
        assert ids == np.repeat(draw.ids, G).tolist()
    # the prefetch lag: with one batch per draw the next draw precedes the last update
    assert [d.staleness for d in history[1:len(reward.calls)]] == [lag] * (len(reward.calls) - 1)
    # the rewards TRL computed are exactly what reached the curriculum, in TRL's order
    replayed = _replay(tr, reward.calls)
    ids = np.arange(tr.curriculum.num_items)
    np.testing.assert_allclose(replayed.estimate(ids).mean, tr.curriculum.estimate(ids).mean)
    logged = [h for h in tr.state.log_history if "curriculum/batch_pass_rate" in h]
    assert len(logged) == len(reward.calls)
    assert logged[0]["curriculum/batch_pass_rate"] == pytest.approx(np.mean(reward.calls[0][1]))


def test_resume_from_checkpoint_continues_the_same_curriculum(tiny_model, tmp_path) -> None:
    full = Recorder()
    a = _trainer(tiny_model, _args(tmp_path / "a", max_steps=4, save_strategy="steps",
                                   save_steps=2), full)
    a.train()
    ckpt = tmp_path / "a" / "checkpoint-2"
    assert (ckpt / MANIFEST).is_file()
    resumed = Recorder()
    b = _trainer(tiny_model, _args(tmp_path / "b", max_steps=4), resumed)
    b.train(resume_from_checkpoint=str(ckpt))
    # the batch drawn (prefetched) before the checkpoint but never trained is trained now
    a_draws = {d.seq: d.ids.tolist() for d in a.zpd_sampler.history}
    b_draws = {d.seq: d.ids.tolist() for d in b.zpd_sampler.history}
    assert min(b_draws) == 2 and b_draws[2] == a_draws[2] and b_draws[3] == a_draws[3]
    assert [c[0] for c in resumed.calls] == [c[0] for c in full.calls[2:]]
    assert b.zpd_sampler.ledger.updates == a.zpd_sampler.ledger.updates == 4
    # the resumed curriculum is the checkpoint's plus exactly the resumed run's rewards (TRL's
    # own sampling after a resume is not bit-identical, so the rewards themselves may differ)
    saved, _ = load_bundle(ckpt)
    replayed = _replay(b, resumed.calls, start=saved, first_update=2, first_seq=3)
    ids = np.arange(a.curriculum.num_items)
    np.testing.assert_allclose(replayed.estimate(ids).mean, b.curriculum.estimate(ids).mean)


def test_tracker_advantage_replaces_trl_advantages(tiny_model, tmp_path) -> None:
    reward = Recorder()
    expected: list[np.ndarray] = []
    captured: list[torch.Tensor] = []

    class Capturing(ZPDGRPOTrainer):
        def _generate_and_score_completions(self, inputs):  # type: ignore[no-untyped-def]
            out = super()._generate_and_score_completions(inputs)
            captured.append(out["advantages"].clone())
            return out

    tr = Capturing(model=str(tiny_model), reward_funcs=reward, args=_args(tmp_path, max_steps=2),
                   train_dataset=Dataset.from_list(toy_rows()),
                   processing_class=AutoTokenizer.from_pretrained(tiny_model),
                   curriculum=Curriculum(18, group_size=G, seed=0), advantage="tracker")

    def before_update(ids: list[int], rewards: list[float]) -> None:  # posterior before update
        cur = copy.deepcopy(tr.curriculum)
        groups = np.array(ids).reshape(-1, G)[:, 0]
        expected.append(cur.advantage(groups, np.array(rewards).reshape(-1, G), kind="tracker"))

    reward.on_call = before_update
    tr.train()
    assert len(captured) == len(expected) == 2
    for got, want in zip(captured, expected):
        np.testing.assert_allclose(got.numpy(), want.reshape(-1), rtol=1e-5, atol=1e-6)


def test_curriculum_reward_and_range_pick_and_scale_one_reward(tiny_model, tmp_path) -> None:
    def fmt(completions: list[str], **_: Any) -> list[float]:  # a format bonus, not tracked
        return [0.5] * len(completions)

    def correct(completions: list[str], **kw: Any) -> list[float]:  # in {-1, 1}
        return [2 * r - 1 for r in toy_reward(completions, **kw)]

    tr = _trainer(tiny_model, _args(tmp_path, max_steps=1), [correct, fmt],
                  curriculum_reward="correct", reward_range=(-1, 1))
    tr.train()
    logged = [h for h in tr.state.log_history if "curriculum/batch_pass_rate" in h][0]
    assert logged["curriculum/batch_pass_rate"] == pytest.approx(
        (logged["rewards/correct/mean"] + 1) / 2)


def test_rewards_outside_the_range_stop_with_a_clear_error(tiny_model, tmp_path) -> None:
    def big(completions: list[str], **_: Any) -> list[float]:
        return [5.0] * len(completions)

    tr = _trainer(tiny_model, _args(tmp_path, max_steps=1), big)
    with pytest.raises(IntegrationError, match="reward_range"):
        tr.train()
    assert tr.zpd_sampler.ledger.updates == 0


def test_setup_errors_are_clear(tiny_model, tmp_path) -> None:
    rows = Dataset.from_list(toy_rows()).remove_columns("zpd_id")
    with pytest.raises(IntegrationError, match="add_id_column"):
        _trainer(tiny_model, _args(tmp_path), toy_reward, data=rows)
    with pytest.raises(IntegrationError, match="row index"):
        _trainer(tiny_model, _args(tmp_path), toy_reward, data=add_id_column(rows).shuffle(0))
    with pytest.raises(IntegrationError, match="max_steps"):
        _trainer(tiny_model, _args(tmp_path, max_steps=-1), toy_reward)
    with pytest.raises(IntegrationError, match="17 items"):
        _trainer(tiny_model, _args(tmp_path), toy_reward,
                 curriculum=Curriculum(17, group_size=G, seed=0))
    with pytest.raises(IntegrationError, match="group_size"):
        _trainer(tiny_model, _args(tmp_path), toy_reward,
                 curriculum=Curriculum(18, group_size=8, seed=0))
    with pytest.raises(IntegrationError, match="curriculum_reward"):
        _trainer(tiny_model, _args(tmp_path), toy_reward, curriculum_reward="nope")
    with pytest.raises(IntegrationError, match="one of the two"):
        _trainer(tiny_model, _args(tmp_path), toy_reward, curriculum_reward="toy_reward",
                 advantage="tracker")


def test_a_lab_checkpoint_trains_in_trl_on_lab_tasks(tmp_path) -> None:
    from zpd.lab import tasks
    from zpd.lab.experiments import demo_config
    from zpd.lab.pretrain import pretrain
    from zpd.lab.trl_tasks import RECOMMENDED_LR, completion_length, lab_reward, trl_dataset

    base = pretrain(demo_config().pretrain, tmp_path / "base", progress=False)  # shipped copy
    items = tasks.make_items(tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(3, 4),
                                              n_items=24), seed=0, unique=True)
    data = trl_dataset(items)
    rewards: list[float] = []

    def scored(completions: list[str], lab_item: list[str], **kw: Any) -> list[float]:
        out = lab_reward(completions, lab_item, **kw)
        rewards.extend(out)
        return out

    scored.__name__ = "lab"
    tr = ZPDGRPOTrainer(model=str(base), reward_funcs=scored,
                        args=_args(tmp_path / "run", max_steps=2, learning_rate=RECOMMENDED_LR,
                                   max_completion_length=completion_length(items)),
                        train_dataset=data, processing_class=AutoTokenizer.from_pretrained(base),
                        curriculum=Curriculum(len(data), group_size=G, seed=0))
    tr.train()
    # the base reverses 3-4 digits about 60 % of the time: TRL's decoded completions (eos
    # stripped) are read by the lab's verifier, so rewards are far from all-zero
    assert len(rewards) == 2 * 12 and 0.2 < float(np.mean(rewards)) < 1.0
