"""The zpd policy's retention anchors, first visits in small pools, tail budget, practice shift."""

from __future__ import annotations

import numpy as np
import pytest
from corehelpers import rollout

import zpd
from zpd.core.policies import ZpdPolicy


def test_anchors_are_replayed_at_the_configured_share_from_a_large_pool() -> None:
    """Mastered items are rare in a 20k pool's random candidates; the reservoir keeps them."""
    rng = np.random.default_rng(0)
    n, batch, share = 20_000, 64, 0.05
    p = rng.beta(0.7, 0.7, n)
    cur = zpd.Curriculum(n, seed=0, config={"zpd": {"anchor_share": share}})
    counts, truth = [], []
    for t in range(40):
        ids = cur.sample(batch)
        anchors = cur.anchor_ids
        assert np.isin(anchors, ids).all()
        if anchors.size:  # anchors are mastered now: observed, posterior mean >= 0.9
            assert (cur.estimate(anchors).mean >= 0.9).all()
            truth.extend(p[anchors])
        if t >= 10:
            counts.append(anchors.size)
        cur.update(ids, rollout(p, ids, 8, rng))
    assert 0.6 * share * batch <= np.mean(counts) <= 1.4 * share * batch
    # truly easy, bar the rare item that passed 8 of 8 by luck (p = 0.39: once here)
    assert np.mean(truth) > 0.85 and np.min(truth) > 0.3


def test_small_batches_get_anchors_on_average() -> None:
    """share * n < 1: stochastic rounding still replays anchors at the configured rate."""
    rng = np.random.default_rng(1)
    n = 2000
    p = np.where(np.arange(n) < 1000, 0.99, 0.5)
    cur = zpd.Curriculum(n, seed=1, config={"zpd": {"anchor_share": 0.05}})
    for _ in range(5):  # every item observed, half of them mastered
        cur.update(np.arange(n), rollout(p, np.arange(n), 8, rng))
    got = []
    for _ in range(200):
        ids = cur.sample(8)  # expected 0.4 anchors per batch
        got.append(cur.anchor_ids.size)
        assert (cur.anchor_ids < 1000).all()
        cur.update(ids, rollout(p, ids, 8, rng))
    assert 0.25 <= np.mean(got) <= 0.55


def test_small_pool_visits_every_item() -> None:
    """18 items, 8 per round: mid items look best, yet no item stays unvisited for long."""
    rng = np.random.default_rng(2)
    p = np.array([0.5] * 11 + [0.25] * 7)
    visited = {}
    for bonus in (1.0, 0.0):
        cur = zpd.Curriculum(18, seed=3, config={"zpd": {"first_visit": bonus,
                                                          "anchor_share": 0.0,
                                                          "repeat_cap": 0}})
        seen = np.zeros(18, bool)
        cur.update(np.arange(11), rollout(p, np.arange(11), 8, rng))  # mid items known first
        for _ in range(12):
            ids = cur.sample(8)
            seen[ids] = True
            cur.update(ids, rollout(p, ids, 8, rng))
        visited[bonus] = int(seen[11:].sum())
    assert visited[1.0] == 7
    assert visited[0.0] < 7  # without the bonus the unseen items starve


def test_repeat_cap_bounds_picks_per_window_and_yields_in_small_pools() -> None:
    """300 items, 30% in band: no item in two of any 4 consecutive draws (the default cap),
    many more distinct items than without the cap; a pool too small for the cap still
    fills every draw, fewest recent picks first."""
    rng = np.random.default_rng(5)
    p = np.concatenate([np.full(120, 0.99), np.full(90, 0.5), np.full(90, 0.0)])
    distinct = {}
    for cap in (1, 0):
        cur = zpd.Curriculum(300, seed=1, config={"zpd": {"repeat_cap": cap}})
        draws = []
        for _ in range(30):
            ids = cur.sample(8)
            draws.append(set(ids.tolist()))
            cur.update(ids, rollout(p, ids, 8, rng))
        most = max(sum(i in d for d in draws[t:t + 4]) for t in range(27) for i in draws[t])
        distinct[cap] = len(set().union(*draws))
        if cap:
            assert most == 1
    assert distinct[1] > 1.5 * distinct[0]
    small = zpd.Curriculum(10, seed=0)
    for _ in range(6):
        ids = small.sample(6)  # 6 of 10 per draw: the cap must yield
        assert np.unique(ids).size == 6
        small.update(ids, rollout(np.full(10, 0.5), ids, 8, rng))


def test_reservoir_is_a_bounded_uniform_sample_of_mastered_items() -> None:
    cur = zpd.Curriculum(5000, seed=4, config={"zpd": {"anchor_reservoir": 50}})
    ones = np.ones((5000, 8))
    cur.update(np.arange(5000), ones)  # every item mastered at once
    cur.sample(10)
    policy = cur.policy
    assert isinstance(policy, ZpdPolicy)
    res = policy.reservoir
    assert res.shape == (50,) and np.unique(res).size == 50 and res.min() >= 0
    assert policy.offered == 5000
    assert res.mean() > 1000  # not just the first ids offered (uniform over all 5000)


def test_tail_price_rises_when_the_batch_is_over_the_tail_budget() -> None:
    """Unseen items carry the prior tail share; a tiny budget prices them out over rounds."""
    rng = np.random.default_rng(5)
    n = 5000
    p = np.full(n, 0.5)
    cur = zpd.Curriculum(n, seed=5, config={"zpd": {"tail_budget": 0.001}})
    for _ in range(4):
        ids = cur.sample(64)
        cur.update(ids, rollout(p, ids, 8, rng))
    policy = cur.policy
    assert isinstance(policy, ZpdPolicy) and policy.price > 0.0
    loose = zpd.Curriculum(n, seed=5, config={"zpd": {"tail_budget": 1.0}})
    loose.sample(64)
    assert isinstance(loose.policy, ZpdPolicy) and loose.policy.price == 0.0


def test_training_shift_raises_the_posterior_of_trained_items() -> None:
    """With a learned practice effect, an item trained on a mixed group reads easier."""
    cur = zpd.Curriculum(10, seed=6)
    cur._ability.eta = 0.5  # as if learned
    mixed = np.array([[1, 0, 1, 0, 1, 0, 1, 0]], dtype=float)
    before = cur.estimate([0]).mean[0]
    cur.update([0], mixed)
    ref = zpd.Curriculum(10, seed=6)  # same evidence, no practice effect
    ref.update([0], mixed)
    assert cur.estimate([0]).mean[0] > ref.estimate([0]).mean[0] + 0.05
    assert before < 1.0


def test_coverage_metrics_follow_the_recent_draws() -> None:
    cur = zpd.Curriculum(100, policy="uniform", seed=0)
    assert cur.coverage()["curriculum/distinct_in_window"] == 0.0
    first = cur.sample(10)
    m = cur.coverage()
    assert m["curriculum/first_visit_share"] == 1.0
    assert m["curriculum/distinct_in_window"] == 10.0
    assert m["curriculum/max_repeats_in_window"] == 1.0
    cur.update(first, np.ones((10, 8)))
    for _ in range(zpd.core.curriculum.COVERAGE_WINDOW + 2):
        ids = cur.sample(10)
    share = float(np.mean(~np.isin(ids, first)))  # only `first` was ever observed
    assert cur.coverage()["curriculum/first_visit_share"] == pytest.approx(share)
    assert 10 <= cur.coverage()["curriculum/distinct_in_window"] <= 80  # 8 draws of 10


def test_selection_temperature_samples_beyond_the_top_scores() -> None:
    """T = 0 takes the items most likely to mix; T > 0 samples in proportion to exp(score / T),
    so items a little less likely to mix are still trained (unique ids, the cap still holds)."""
    rng = np.random.default_rng(0)
    p = np.concatenate([np.full(50, 0.5), np.full(50, 0.85)])  # best mixers, then good ones
    picked = {}
    for t in (0.0, 0.2):
        cur = zpd.Curriculum(100, seed=2, config={"zpd": {"selection_temperature": t,
                                                          "anchor_share": 0.0}})
        for _ in range(4):
            ids = np.arange(100)
            cur.update(ids, rollout(p, ids, 8, rng))
        cur.sample(1)
        draws = [cur.sample(10) for _ in range(3)]
        assert all(np.unique(d).size == 10 for d in draws)
        assert not set(draws[0]) & set(draws[1])  # the repeat cap still holds
        picked[t] = np.concatenate(draws)
    assert np.mean(picked[0.0] >= 50) < 0.1  # top-k: almost only the p = 0.5 items
    assert np.mean(picked[0.2] >= 50) >= 0.15  # sampled: the p = 0.85 items too
    with pytest.raises(zpd.ConfigError, match="selection_temperature"):
        zpd.ZpdPolicyConfig(selection_temperature=-1.0)
