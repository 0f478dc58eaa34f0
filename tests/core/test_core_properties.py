"""Hypothesis properties of the curriculum: valid ids, bounded posteriors, exact resume,
and commuting disjoint updates."""

from __future__ import annotations

import numpy as np
from corehelpers import same_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zpd

POLICIES = st.sampled_from(["zpd", "uniform", "greso", "mopps", "learnability"])
SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenario(draw: st.DrawFn) -> tuple[int, int, int, list[tuple[int, int]], bool]:
    """(num_items, group_size, seed, [(batch, reward seed)], fractional)."""
    n = draw(st.integers(1, 80))
    g = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    rounds = draw(st.lists(st.tuples(st.integers(1, n), st.integers(0, 10**6)),
                           min_size=1, max_size=4))
    return n, g, seed, rounds, draw(st.booleans())


def rewards(rng: np.random.Generator, rows: int, g: int, fractional: bool) -> np.ndarray:
    if fractional:
        return rng.integers(0, 5, (rows, g)) / 4.0
    return (rng.random((rows, g)) < rng.random((rows, 1))).astype(float)


def play(cur: zpd.Curriculum, rounds: list[tuple[int, int]], g: int, fractional: bool) -> None:
    for batch, rseed in rounds:
        ids = cur.sample(batch)
        cur.update(ids, rewards(np.random.default_rng(rseed), batch, g, fractional))


@SETTINGS
@given(scenario(), POLICIES)
def test_sampled_ids_are_unique_and_in_the_pool(sc: tuple, policy: str) -> None:
    n, g, seed, rounds, fractional = sc
    cur = zpd.Curriculum(n, policy=policy, group_size=g, seed=seed)
    for batch, rseed in rounds:
        ids = cur.sample(batch)
        assert ids.shape == (batch,) and ids.dtype == np.int64
        assert np.unique(ids).size == batch
        assert ids.min() >= 0 and ids.max() < n
        assert np.all(np.isin(cur.anchor_ids, ids))
        cur.update(ids, rewards(np.random.default_rng(rseed), batch, g, fractional))


@SETTINGS
@given(scenario(), POLICIES, st.integers(0, 30))
def test_posterior_means_and_intervals_stay_in_unit_interval(sc: tuple, policy: str,
                                                             extra: int) -> None:
    n, g, seed, rounds, fractional = sc
    cur = zpd.Curriculum(n, policy=policy, group_size=g, seed=seed)
    play(cur, rounds, g, fractional)
    if extra:
        cur.add_items(extra)
    est = cur.estimate(np.arange(cur.num_items))
    assert np.all(np.isfinite(est.mean))
    assert np.all((est.lower >= 0) & (est.lower <= est.mean + 1e-12))
    assert np.all((est.mean <= est.upper + 1e-12) & (est.upper <= 1))
    pred = cur.predicted(np.arange(cur.num_items))
    assert np.all((pred > 0) & (pred < 1))


@SETTINGS
@given(scenario(), POLICIES, st.integers(1, 50))
def test_state_round_trip_reproduces_future_draws(sc: tuple, policy: str, batch: int) -> None:
    n, g, seed, rounds, fractional = sc
    cur = zpd.Curriculum(n, policy=policy, group_size=g, seed=seed)
    play(cur, rounds, g, fractional)
    copy = zpd.Curriculum(n, policy=policy, group_size=g, seed=seed + 1)
    copy.load_state_dict(cur.state_dict())
    assert same_state(cur.state_dict(), copy.state_dict())
    k = min(batch, n)
    for _ in range(3):
        a, b = cur.sample(k), copy.sample(k)
        assert np.array_equal(a, b)
        r = rewards(np.random.default_rng(k), k, g, fractional)
        cur.update(a, r)
        copy.update(b, r)
    assert np.array_equal(cur.estimate(np.arange(n)).mean, copy.estimate(np.arange(n)).mean)


@SETTINGS
@given(scenario(), st.sampled_from(["zpd", "uniform", "mopps"]), st.data())
def test_disjoint_updates_commute(sc: tuple, policy: str, data: st.DataObject) -> None:
    n, g, seed, rounds, fractional = sc
    cur = zpd.Curriculum(n, policy=policy, group_size=g, seed=seed)
    play(cur, rounds, g, fractional)
    ids = np.random.default_rng(seed).permutation(n)
    cut = data.draw(st.integers(0, n))
    a, b = ids[:cut], ids[cut:]
    ra = rewards(np.random.default_rng(1), a.size, g, fractional)
    rb = rewards(np.random.default_rng(2), b.size, g, fractional)
    other = zpd.Curriculum(n, policy=policy, group_size=g, seed=seed)
    other.load_state_dict(cur.state_dict())
    cur.update(a, ra)
    cur.update(b, rb)
    other.update(b, rb)
    other.update(a, ra)
    everything = np.arange(n)
    assert np.array_equal(cur.estimate(everything).mean, other.estimate(everything).mean)
    k = data.draw(st.integers(1, n))
    assert np.array_equal(cur.sample(k), other.sample(k))
    assert np.array_equal(cur.estimate(everything).mean, other.estimate(everything).mean)
