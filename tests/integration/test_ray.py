"""The curriculum as a named Ray actor: concurrent workers, exactly-once updates, restarts."""

from __future__ import annotations

import time

import numpy as np
import pytest
import ray

from zpd.core.curriculum import Curriculum
from zpd.core.errors import ZpdError
from zpd.integrations._errors import IntegrationError
from zpd.integrations._persist import load_bundle
from zpd.integrations.ray import CurriculumClient, CurriculumService, serve_curriculum

pytestmark = pytest.mark.integration
N, G = 40, 4


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             namespace="zpd-tests")
    yield
    ray.shutdown()


@ray.remote(num_cpus=0)
class RolloutWorker:
    """A rollout worker: asks the shared curriculum for picks, reports simulated rewards."""

    def __init__(self, name: str, seed: int) -> None:
        self.client = CurriculumClient(name, namespace="zpd-tests")
        self.rng = np.random.default_rng(seed)

    def run(self, steps: int, batch: int) -> list[tuple[list[int], list[list[float]]]]:
        sent = []
        for _ in range(steps):
            ids = self.client.sample(batch)
            rewards = (self.rng.random((ids.size, G)) < (ids[:, None] + 1) / (N + 1)).astype(float)
            assert self.client.update(ids, rewards)
            sent.append((ids.tolist(), rewards.tolist()))
        return sent


def test_concurrent_workers_lose_and_double_no_update(ray_local, tmp_path) -> None:
    service = serve_curriculum("cur-concurrent", N, checkpoint_dir=str(tmp_path),
                               policy="uniform", group_size=G, seed=0)
    workers = [RolloutWorker.remote("cur-concurrent", seed) for seed in range(4)]
    sent = ray.get([w.run.remote(6, 5) for w in workers])  # 4 workers x 6 updates, concurrently
    trials, reward_sum = ray.get(service.evidence.remote())
    want_trials, want_sum = np.zeros(N, dtype=np.int64), np.zeros(N)
    for ids, rewards in (u for per_worker in sent for u in per_worker):
        np.add.at(want_trials, ids, G)
        np.add.at(want_sum, ids, np.sum(rewards, axis=1))
    np.testing.assert_array_equal(trials, want_trials)
    np.testing.assert_allclose(reward_sum, want_sum)
    stats = ray.get(service.stats.remote())
    assert stats["updates"] == 24 and stats["duplicates"] == 0
    # the durable copy on disk is the state after the last update
    _, extra = load_bundle(tmp_path)
    assert extra["updates"] == 24 and extra["trials"] == want_trials.tolist()


def test_a_retried_update_is_applied_once(ray_local, tmp_path) -> None:
    service = serve_curriculum("cur-retry", N, checkpoint_dir=str(tmp_path), group_size=G,
                               seed=0)
    client = CurriculumClient(service)
    ids = client.sample(3)
    rewards = np.ones((3, G))
    assert client.update(ids, rewards) is True
    assert client.resend(ids, rewards, seq=1) is False  # the reply was lost; the retry is not
    trials, _ = ray.get(service.evidence.remote())
    assert trials[ids].tolist() == [G] * 3
    with pytest.raises(ZpdError):  # bad rewards: refused, nothing applied
        client.update(ids, np.full((3, G), 7.0))
    assert client.update(ids, rewards) is True  # numbering continues past the rejected update
    stats = ray.get(service.stats.remote())
    assert stats == {"updates": 2, "duplicates": 1, "restored": False, "num_items": N}


def test_state_survives_an_actor_restart(ray_local, tmp_path) -> None:
    service = serve_curriculum("cur-restart", N, checkpoint_dir=str(tmp_path), group_size=G,
                               seed=1, max_restarts=1)
    client = CurriculumClient(service)
    for _ in range(3):
        ids = client.sample(6)
        client.update(ids, (ids[:, None] % 2 == 0) * np.ones((1, G)))
    before = ray.get(service.estimate.remote(np.arange(N)))[0]
    state = ray.get(service.state_dict.remote())
    old_pid = ray.get(service.pid.remote())
    ray.kill(service, no_restart=False)  # the process dies; Ray starts a new one
    deadline = time.time() + 90
    while True:  # ray.kill is asynchronous: wait for the new incarnation
        try:
            if ray.get(service.pid.remote(), timeout=30) != old_pid:
                break
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass
        assert time.time() < deadline, "the curriculum actor was not restarted"
        time.sleep(0.5)
    stats = ray.get(service.stats.remote())
    assert stats["restored"] is True and stats["updates"] == 3
    np.testing.assert_array_equal(ray.get(service.estimate.remote(np.arange(N)))[0], before)
    local = Curriculum(N, group_size=G, seed=1)
    local.load_state_dict(state)
    np.testing.assert_array_equal(client.sample(6), local.sample(6))  # same draws as before
    assert client.update(np.arange(2), np.ones((2, G))) is True  # a fresh number is applied


def test_service_refuses_bad_setup(ray_local, tmp_path) -> None:
    with pytest.raises(IntegrationError, match="checkpoint_dir"):
        serve_curriculum("cur-bad", N, group_size=G)
    with pytest.raises(IntegrationError, match="checkpoint_every"):
        CurriculumService(N, checkpoint_every=0)
    with pytest.raises(IntegrationError, match="client_id"):
        CurriculumService(N).update("c", 0, [0], [[1.0]])
    with pytest.raises(IntegrationError, match="no checkpoint_dir"):
        CurriculumService(N).save()
