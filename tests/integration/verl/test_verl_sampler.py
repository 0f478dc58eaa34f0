"""ZPDCurriculumSampler through verl 0.7's own dataset, sampler factory, dataloader and DataProto.

Runs in the verl environment (``scripts/verl_env.sh``). The steps mirror verl's
``RayPPOTrainer.fit`` data path: ``create_rl_dataset`` -> ``create_rl_sampler`` ->
``StatefulDataLoader`` -> ``DataProto.from_single_dict`` -> uid -> ``repeat(n, interleave)`` ->
scores -> row rebalancing -> ``sampler.update(batch)``; the rollout workers (GPU/vLLM) are
replaced by scores drawn from known pass rates.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import verl
from omegaconf import OmegaConf
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import AutoTokenizer
from verl import DataProto
from verl.trainer.main_ppo import create_rl_dataset, create_rl_sampler
from verl.utils.dataset.rl_dataset import collate_fn

from zpd.core.curriculum import Curriculum
from zpd.integrations._errors import IntegrationError
from zpd.integrations._persist import load_bundle
from zpd.integrations.toy import random_pass_rate, toy_items, toy_verl_rows
from zpd.integrations.verl import ZPDCurriculumSampler, group_scores, stamp_index

pytestmark = pytest.mark.integration
N_ROLL, BATCH = 4, 3
TRUE_P = random_pass_rate(toy_items())  # (18,)


def _parquet(path: Path, rows: list[dict[str, Any]]) -> str:
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def _data_config(train: str, **zpd: Any) -> Any:
    base = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/data/legacy_data.yaml")
    over = {
        "train_files": train, "val_files": train, "train_batch_size": BATCH,
        "dataloader_num_workers": 0, "filter_overlong_prompts": False,
        "tool_config_path": None, "cache_dir": str(Path(train).parent / "cache"),
        "sampler": {"class_path": "pkg://zpd.integrations.verl",
                    "class_name": "ZPDCurriculumSampler",
                    "zpd": {"group_size": N_ROLL, **zpd}},
    }
    return OmegaConf.merge(base, over)


def _build(tiny_model: Path, cfg: Any) -> tuple[Any, ZPDCurriculumSampler, StatefulDataLoader]:
    """What ``RayPPOTrainer._create_dataloader`` does."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    dataset = create_rl_dataset(cfg.train_files, cfg, tokenizer, None)
    sampler = create_rl_sampler(cfg, dataset)
    loader = StatefulDataLoader(dataset=dataset, batch_size=cfg.train_batch_size,
                                num_workers=cfg.dataloader_num_workers, drop_last=True,
                                collate_fn=collate_fn, sampler=sampler)
    return dataset, sampler, loader


def _step(batch_dict: dict[str, Any], rng: np.random.Generator,
          shift: int = 0) -> tuple[DataProto, np.ndarray]:
    """One fit-loop step up to ``update``: uid, repeat, scores, rows rebalanced."""
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))],
                                             dtype=object)
    batch = batch.repeat(repeat_times=N_ROLL, interleave=True)
    index = batch.non_tensor_batch["index"].astype(np.int64) - shift  # (B*n,)
    solved = (rng.random(index.size) < TRUE_P[index]).astype(np.float32)  # (B*n,)
    scores = torch.zeros(index.size, 5)
    scores[:, -1] = torch.from_numpy(solved)  # the score sits on the last response token
    batch.batch["token_level_scores"] = scores
    batch.reorder(torch.from_numpy(rng.permutation(len(batch))))  # like _balance_batch
    return batch, index


def test_factory_builds_the_sampler_and_updates_follow_the_picks(tiny_model, tmp_path) -> None:
    cfg = _data_config(_parquet(tmp_path / "train.parquet", toy_verl_rows()),
                       save_dir=str(tmp_path / "zpd"))
    dataset, sampler, loader = _build(tiny_model, cfg)
    assert isinstance(sampler, ZPDCurriculumSampler) and len(dataset) == 18
    rng = np.random.default_rng(0)
    it = iter(loader)
    sent = []
    for step in range(4):
        batch, index = _step(next(it), rng)
        draw = sampler.inner.ledger.pending[0]
        assert sorted(set(index.tolist())) == sorted(draw.ids.tolist())  # trained = picked
        sampler.update(batch)
        sent.append(batch)
        assert sampler.last_metrics["curriculum/updates"] == step + 1
        assert draw.staleness == 0  # verl draws, trains, then updates: no lag
    # the curriculum holds exactly the scores verl passed: replay them on a fresh one
    fresh = Curriculum(18, group_size=N_ROLL, seed=0)
    for batch in sent:
        ids, rewards = group_scores(batch, N_ROLL)
        fresh.sample(BATCH)
        fresh.update(ids, rewards)
    all_ids = np.arange(18)
    np.testing.assert_allclose(fresh.estimate(all_ids).mean,
                               sampler.curriculum.estimate(all_ids).mean)
    saved, extra = load_bundle(tmp_path / "zpd")  # the pickle-free copy after the last update
    np.testing.assert_allclose(saved.estimate(all_ids).mean, fresh.estimate(all_ids).mean)
    assert extra["sampler"]["updates"] == 4


def test_dataloader_checkpoint_resumes_the_same_stream(tiny_model, tmp_path) -> None:
    cfg = _data_config(_parquet(tmp_path / "train.parquet", toy_verl_rows()), seed=2)

    def run(steps: int, resume: dict | None = None, rng=None):
        _, sampler, loader = _build(tiny_model, cfg)
        if resume is not None:
            loader.load_state_dict(resume)
        rng = rng or np.random.default_rng(5)
        it, picks = iter(loader), []
        for _ in range(steps):
            batch, index = _step(next(it), rng)
            picks.append(sorted(set(index.tolist())))
            sampler.update(batch)
        return picks, loader.state_dict(), sampler, rng

    full, _, a, _ = run(6)
    head, state, _, rng = run(3)
    tail, _, b, _ = run(3, resume=state, rng=rng)
    assert head + tail == full
    assert b.inner.ledger.updates == 6  # the sampler state came back through verl's data.pt path
    all_ids = np.arange(18)
    np.testing.assert_allclose(b.curriculum.estimate(all_ids).mean,
                               a.curriculum.estimate(all_ids).mean)


def test_index_is_mapped_to_rows_when_it_is_not_the_row_position(tiny_model, tmp_path) -> None:
    rows = toy_verl_rows()
    for i, row in enumerate(rows):
        row["extra_info"] = {**row["extra_info"], "index": 100 + i}
    cfg = _data_config(_parquet(tmp_path / "train.parquet", rows))
    _, sampler, loader = _build(tiny_model, cfg)
    batch, index = _step(next(iter(loader)), np.random.default_rng(0), shift=100)
    draw = sampler.inner.ledger.pending[0]
    sampler.update(batch)
    assert sorted(set(index.tolist())) == sorted(draw.ids.tolist())
    assert sampler.inner.ledger.updates == 1


def test_bad_configuration_and_batches_raise_clear_errors(tiny_model, tmp_path) -> None:
    train = _parquet(tmp_path / "train.parquet", toy_verl_rows())
    cfg = _data_config(train)
    cfg.sampler.zpd = None
    with pytest.raises(IntegrationError, match="group_size"):
        _build(tiny_model, cfg)
    cfg = _data_config(train, typo=1)
    with pytest.raises(IntegrationError, match="unknown data.sampler.zpd keys"):
        _build(tiny_model, cfg)
    cfg = _data_config(train)
    cfg.dataloader_num_workers = 2
    with pytest.raises(IntegrationError, match="dataloader_num_workers=0"):
        ZPDCurriculumSampler(list(range(18)), cfg)
    rows = toy_verl_rows()
    rows[1]["extra_info"] = {**rows[1]["extra_info"], "index": 0}
    with pytest.raises(IntegrationError, match="distinct extra_info.index"):
        _build(tiny_model, _data_config(_parquet(tmp_path / "dup.parquet", rows)))
    _, sampler, loader = _build(tiny_model, _data_config(train, group_size=2))
    batch, _ = _step(next(iter(loader)), np.random.default_rng(0))
    with pytest.raises(IntegrationError, match="group_size=2"):
        sampler.update(batch)
    _, sampler, loader = _build(tiny_model, _data_config(train))
    batch, _ = _step(next(iter(loader)), np.random.default_rng(0))
    batch.batch["token_level_scores"][:, -1] = 3.0
    with pytest.raises(IntegrationError, match="reward_range"):
        sampler.update(batch)
    assert sampler.inner.ledger.updates == 0


def test_stamp_index_numbers_rows() -> None:
    rows = stamp_index([{"prompt": "a", "extra_info": {"index": 7, "x": 1}}, {"prompt": "b"}])
    assert [r["extra_info"]["index"] for r in rows] == [0, 1]
    assert rows[0]["extra_info"]["x"] == 1
