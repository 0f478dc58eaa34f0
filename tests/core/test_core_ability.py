"""The shared ability model: it recovers difficulty order, tracks drift, and places new items."""

from __future__ import annotations

import numpy as np
import pytest
from corehelpers import rollout

import zpd


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def test_rasch_fit_recovers_the_order_of_pass_rates() -> None:
    rng = np.random.default_rng(0)
    n = 400
    p = 1 / (1 + np.exp(-rng.normal(0, 1.5, n)))
    cur = zpd.Curriculum(n, policy="uniform", seed=0)
    for _ in range(25):
        ids = cur.sample(80)
        cur.update(ids, rollout(p, ids, 8, rng))
    assert spearman(cur.predicted(np.arange(n)), p) > 0.8


def test_stale_item_moves_with_the_ability_model() -> None:
    """An item seen once keeps moving as other items show the model improving."""
    rng = np.random.default_rng(1)
    n = 200
    cur = zpd.Curriculum(n, policy="uniform", seed=0)
    cur.sample(10)
    cur.update([0], [[1, 1, 1, 1, 0, 0, 0, 0]])
    cur.sample(10)
    first = cur.estimate([0]).mean[0]
    gaps = []
    for _ in range(15):  # item 0 never again; everything else is solved more and more
        ids = cur.sample(40)
        ids = ids[ids != 0]
        cur.update(ids, (rng.random((ids.size, 8)) < 0.9).astype(float))
        gaps.append(abs(cur.estimate([0]).mean[0] - cur.predicted([0])[0]))
    later = cur.estimate([0]).mean[0]
    assert later > first + 0.1  # it rose without being observed
    assert gaps[-1] < gaps[0]  # and converged toward the ability prediction
    assert cur.predicted([0])[0] > 0.6


def test_per_category_abilities_are_ordered() -> None:
    rng = np.random.default_rng(2)
    n = 600
    cat = np.arange(n) % 3
    theta = np.array([-1.5, 0.0, 1.5])
    p = 1 / (1 + np.exp(-(theta[cat] - rng.normal(0, 0.5, n))))
    cur = zpd.Curriculum(n, policy="uniform", seed=0, features={"category": cat})
    for _ in range(20):
        ids = cur.sample(90)
        cur.update(ids, rollout(p, ids, 8, rng))
    cur.sample(1)
    ab = cur.ability()["mean"]
    assert ab[0] < ab[1] < ab[2]


def test_features_place_unseen_items() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    b = rng.normal(0, 1.5, n)
    p = 1 / (1 + np.exp(b))
    cur = zpd.Curriculum(n // 2, policy="uniform", seed=0,
                         features={"difficulty": b[: n // 2] + rng.normal(0, 0.3, n // 2)})
    for _ in range(20):
        ids = cur.sample(100)
        cur.update(ids, rollout(p, ids, 8, rng))
    new = cur.add_items(n // 2, {"difficulty": b[n // 2:] + rng.normal(0, 0.3, n // 2)})
    cur.sample(1)
    assert spearman(cur.predicted(new), p[new]) > 0.8
    # Missing features fall back to the mean prediction, not an error.
    extra = cur.add_items(2, {"difficulty": np.array([np.nan, np.nan])})
    pe = cur.predicted(extra)
    assert np.all((pe > 0) & (pe < 1)) and pe[0] == pe[1]


def test_near_impossible_items_are_quarantined_and_only_probed() -> None:
    rng = np.random.default_rng(4)
    n = 300
    p = np.full(n, 0.5)
    p[:30] = 0.0
    cfg = {"zpd": {"probe_share": 0.0, "anchor_share": 0.0}}
    cur = zpd.Curriculum(n, seed=0, config=cfg)
    for _ in range(3):  # every item gets observed
        for chunk in np.array_split(np.arange(n), 3):
            cur.update(chunk, rollout(p, chunk, 8, rng))
        cur.sample(1)
    q = cur.quarantined(np.arange(n))
    assert q[:30].mean() > 0.9 and q[30:].mean() < 0.05
    picked = np.concatenate([cur.sample(100) for _ in range(5)])
    assert np.isin(picked, np.arange(30)).sum() == 0
    probing = zpd.Curriculum(n, seed=0, config={"zpd": {"probe_share": 0.1}})
    probing.load_state_dict(cur.state_dict())  # same state, a config that probes
    picked = probing.sample(100)
    assert 5 <= np.isin(picked, np.arange(30)).sum() <= 15  # the probe share, most promising


def test_mastered_items_are_replayed_as_anchors() -> None:
    rng = np.random.default_rng(6)
    n = 200
    p = np.where(np.arange(n) < 100, 1.0, 0.5)
    cur = zpd.Curriculum(n, seed=0, config={"zpd": {"anchor_share": 0.1}})
    for _ in range(3):
        for chunk in np.array_split(np.arange(n), 2):
            cur.update(chunk, rollout(p, chunk, 8, rng))
        cur.sample(1)
    ids = cur.sample(50)
    anchors = cur.anchor_ids
    assert 4 <= anchors.size <= 6
    assert np.all(np.isin(anchors, ids)) and np.all(anchors < 100)
    assert np.sum(ids < 100) == anchors.size  # mastered items appear only as anchors
    off = zpd.Curriculum(n, seed=0, config={"zpd": {"anchor_share": 0.0}})
    off.sample(5)
    assert off.anchor_ids.size == 0


def test_offline_pass_rates_seed_the_posterior_before_any_rollout() -> None:
    """BOTS (arXiv 2510.26374): offline rates place items at once; NaN items stay at the prior."""
    p = np.array([0.0] * 20 + [1.0] * 20 + [0.5] * 20 + [np.nan] * 20)
    cur = zpd.Curriculum(80, seed=0, features={"prior_pass_rate": p})
    est = cur.estimate(np.arange(80)).mean
    assert est[:20].max() < 0.15 < 0.6 < est[20:40].min()
    assert np.all(np.abs(est[40:60] - 0.5) < 0.05)
    assert np.ptp(est[60:]) < 1e-9  # no offline rate: one shared prior
    picked = cur.sample(10)
    assert np.all((picked >= 40) & (picked < 80))  # the seeded in-band items and the unknown
    off = zpd.Curriculum(80, seed=0, features={"prior_pass_rate": p},
                         config={"ability": {"offline_samples": 0.0}})
    assert np.ptp(off.estimate(np.arange(40)).mean) < 0.3  # only a regression input then
    new = cur.add_items(2, {"prior_pass_rate": np.array([0.0, 1.0])})
    e2 = cur.estimate(new).mean
    assert e2[0] < 0.15 < 0.5 < e2[1]
    with pytest.raises(zpd.FeatureError, match="prior_pass_rate"):
        zpd.Curriculum(3, features={"prior_pass_rate": np.array([0.2, 1.5, 0.1])})
