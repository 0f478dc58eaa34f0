"""The plain-PyTorch sampler: picks, repeats, order checks, lag accounting, exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from zpd.core.curriculum import Curriculum
from zpd.core.errors import ZpdError
from zpd.integrations._errors import IntegrationError
from zpd.integrations._persist import MANIFEST
from zpd.integrations.torch import CurriculumSampler

N, B, G = 30, 5, 4
TRUE_P = np.linspace(0.02, 0.98, N)  # item i is solved with probability TRUE_P[i]


class _Rows(Dataset):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict[str, int]:
        return {"id": i}


def _rewards(ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random((ids.size, G)) < TRUE_P[ids, None]).astype(float)  # (B, G)


def _loop(sampler: CurriculumSampler, steps: int, seed: int = 1) -> list[np.ndarray]:
    """A training loop over a real DataLoader: one batch = one group of G rollouts per pick."""
    rng = np.random.default_rng(seed)
    loader = DataLoader(_Rows(), batch_size=B * G, sampler=sampler)
    seen = []
    for _, batch in zip(range(steps), loader):  # range first: no batch fetched past the end
        ids = batch["id"].numpy().reshape(B, G)[:, 0]
        seen.append(ids)
        sampler.update(ids, _rewards(ids, rng))
    return seen


def test_yields_each_pick_repeated_and_matches_the_draws() -> None:
    cur = Curriculum(N, group_size=G, seed=0)
    sampler = CurriculumSampler(cur, B, repeat_each=G, record=True)
    seen = _loop(sampler, steps=4)
    assert [d.seq for d in sampler.history] == [0, 1, 2, 3]
    for ids, draw in zip(seen, sampler.history):
        np.testing.assert_array_equal(ids, draw.ids)
        assert len(set(draw.ids.tolist())) == B  # distinct picks per batch
    # no lag with a worker-less DataLoader: each draw saw every earlier update
    assert [d.staleness for d in sampler.history] == [0, 0, 0, 0]
    assert sampler.ledger.updates == 4 and not sampler.ledger.pending


def test_repeat_batch_repeats_the_whole_block() -> None:
    cur = Curriculum(N, group_size=G, seed=0)
    sampler = CurriculumSampler(cur, 3, num_batches=2, repeat_each=2, repeat_batch=3)
    out = list(sampler)
    assert len(out) == len(sampler) == 2 * 3 * 2 * 3
    first = out[:6]
    assert out[6:12] == first and out[12:18] == first
    assert first[0] == first[1] and first[2] == first[3]


def test_curriculum_learns_pass_rates_through_the_sampler() -> None:
    cur = Curriculum(N, policy="uniform", group_size=G, seed=0)
    sampler = CurriculumSampler(cur, B, num_batches=60, repeat_each=G)
    _loop(sampler, steps=60)
    est = cur.estimate(np.arange(N)).mean
    # hard items (true p < 0.2) must be estimated below easy ones (true p > 0.8)
    assert est[TRUE_P < 0.2].mean() + 0.4 < est[TRUE_P > 0.8].mean()


def test_update_for_ids_that_were_not_drawn_is_refused_and_changes_nothing() -> None:
    cur = Curriculum(N, group_size=G, seed=0)
    sampler = CurriculumSampler(cur, B, repeat_each=G)
    it = iter(sampler)
    ids = np.array([next(it) for _ in range(B * G)]).reshape(B, G)[:, 0]
    before = cur.estimate(np.arange(N)).mean
    others = np.setdiff1d(np.arange(N), ids)[:B]
    with pytest.raises(IntegrationError, match="not the oldest batch"):
        sampler.update(others, np.ones((B, G)))
    with pytest.raises(ZpdError):  # rewards outside [0, 1]: the curriculum refuses
        sampler.update(ids, np.full((B, G), 2.0))
    assert sampler.ledger.updates == 0 and len(sampler.ledger.pending) == 1
    np.testing.assert_array_equal(cur.estimate(np.arange(N)).mean, before)
    sampler.update(ids[:2], np.ones((2, G)))  # a subset (groups dropped by a filter) is fine
    assert sampler.ledger.updates == 1
    with pytest.raises(IntegrationError, match="no drawn batch"):
        sampler.update(ids[:2], np.ones((2, G)))


def test_bad_arguments_raise_clear_errors() -> None:
    cur = Curriculum(N, group_size=G, seed=0)
    with pytest.raises(IntegrationError, match="batch_size"):
        CurriculumSampler(cur, 0)
    with pytest.raises(IntegrationError, match="exceeds"):
        CurriculumSampler(cur, N + 1)
    with pytest.raises(IntegrationError, match="repeat_each"):
        CurriculumSampler(cur, B, repeat_each=0)


def test_save_load_resumes_exactly_with_an_unrewarded_batch_in_flight(tmp_path) -> None:
    """Stop after a prefetch (a batch drawn, never trained), resume, get the same stream."""

    def run(stop_after: int | None, folder=None) -> list[np.ndarray]:
        cur = Curriculum(N, group_size=G, seed=3)
        sampler = CurriculumSampler(cur, B, num_batches=100, repeat_each=G)
        rng = np.random.default_rng(7)
        picks, it = [], iter(sampler)
        for step in range(8):
            ids = np.array([next(it) for _ in range(B * G)]).reshape(B, G)[:, 0]
            picks.append(ids)
            if stop_after is not None and step == stop_after:  # drew `ids`, saving before reward
                sampler.save(folder)
                return picks
            sampler.update(ids, _rewards(ids, rng))
        return picks

    full = run(None)
    head = run(3, tmp_path / "ckpt")
    cur = Curriculum(N, group_size=G, seed=3)
    resumed = CurriculumSampler(cur, B, num_batches=100, repeat_each=G)
    resumed.load(tmp_path / "ckpt")
    rng = np.random.default_rng(7)
    for ids in head[:3]:  # replay the reward stream up to the checkpoint
        _rewards(ids, rng)
    it = iter(resumed)
    tail = []
    for _ in range(5):
        ids = np.array([next(it) for _ in range(B * G)]).reshape(B, G)[:, 0]
        tail.append(ids)
        resumed.update(ids, _rewards(ids, rng))
    for a, b in zip(full[3:], tail):
        np.testing.assert_array_equal(a, b)  # the in-flight batch is replayed, then identical
    manifest = json.loads((tmp_path / "ckpt" / MANIFEST).read_text())
    assert manifest["extra"]["sampler"]["pending"][0]["ids"] == head[3].tolist()


def test_load_refuses_a_foreign_folder_and_changes_nothing(tmp_path) -> None:
    cur = Curriculum(N, group_size=G, seed=0)
    sampler = CurriculumSampler(cur, B)
    with pytest.raises(IntegrationError, match="manifest"):
        sampler.load(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"version": 99}))
    with pytest.raises(IntegrationError, match="not a version-1"):
        sampler.load(tmp_path)
    other = CurriculumSampler(Curriculum(N + 1, group_size=G, seed=0), B)
    other.save(tmp_path / "other")
    with pytest.raises(IntegrationError, match="items"):
        sampler.load(tmp_path / "other")
    assert sampler.ledger.next_seq == 0


def test_save_keeps_one_curriculum_file_per_folder(tmp_path) -> None:
    cur = Curriculum(N, group_size=G, seed=0)
    sampler = CurriculumSampler(cur, B)
    for _ in range(3):
        sampler.save(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [MANIFEST, "zpd_curriculum.2.npz"]


def test_identical_replicas_yield_identical_streams() -> None:
    """Two ranks: same seed, same (gathered) updates -> the same picks, batch after batch."""
    rng = np.random.default_rng(0)
    a = CurriculumSampler(Curriculum(N, group_size=G, seed=5), B, num_batches=10)
    b = CurriculumSampler(Curriculum(N, group_size=G, seed=5), B, num_batches=10)
    ia, ib = iter(a), iter(b)
    for _ in range(10):
        ids_a = np.array([next(ia) for _ in range(B)])
        ids_b = np.array([next(ib) for _ in range(B)])
        np.testing.assert_array_equal(ids_a, ids_b)
        r = _rewards(ids_a, rng)
        a.update(ids_a, r)
        b.update(ids_b, r)
    assert torch.equal(torch.as_tensor(ids_a), torch.as_tensor(ids_b))
