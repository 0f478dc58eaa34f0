"""The monitors' numpy statistics agree with scipy and respect their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from zpd.monitors.stats import (
    binom_sf,
    entropy,
    fisher_less,
    ols_slope,
    rankdata,
    spearman,
    spearman_z,
    spent_alpha,
)


@pytest.mark.parametrize("k, n, p", [(0, 10, 0.3), (3, 10, 0.3), (30, 100, 0.015), (100, 100, 0.5),
                                     (5, 4, 0.5), (1, 50, 0.0), (7, 9, 1.0), (400, 900, 0.41)])
def test_binom_sf_matches_scipy(k: int, n: int, p: float) -> None:
    expected = 1.0 if k <= 0 else float(sps.binom.sf(k - 1, n, p))
    assert binom_sf(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@given(st.integers(0, 40), st.integers(1, 40), st.integers(0, 60), st.integers(1, 60))
@settings(max_examples=60, deadline=None)
def test_fisher_less_matches_scipy(s1: int, n1: int, s0: int, n0: int) -> None:
    s1, s0 = min(s1, n1), min(s0, n0)
    table = [[s1, n1 - s1], [s0, n0 - s0]]
    expected = sps.fisher_exact(table, alternative="less").pvalue
    assert fisher_less(s1, n1, s0, n0) == pytest.approx(expected, rel=1e-7, abs=1e-12)


def test_fisher_less_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        fisher_less(5, 4, 1, 2)


@given(st.lists(st.integers(-5, 5), min_size=3, max_size=40), st.randoms())
@settings(max_examples=60, deadline=None)
def test_rankdata_and_spearman_match_scipy(xs: list[int], r) -> None:
    x = np.array(xs, dtype=float)
    y = np.array([r.randint(-3, 3) for _ in xs], dtype=float)
    assert np.allclose(rankdata(x), sps.rankdata(x))
    rho = spearman(x, y)
    if np.all(x == x[0]) or np.all(y == y[0]):
        assert math.isnan(rho)
    else:
        assert rho == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-9)


def test_spearman_is_invariant_to_monotone_maps() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert spearman(x, y) == pytest.approx(spearman(np.exp(x), y**3))
    assert spearman(x, x) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert math.isnan(spearman_z(0.5, 3))


def test_entropy_slope_and_alpha_spending() -> None:
    assert entropy(np.array([5, 5])) == pytest.approx(math.log(2))
    assert entropy(np.array([7, 0])) == 0.0
    assert entropy(np.array([])) == 0.0
    assert ols_slope(np.array([1.0, 3.0, 5.0])) == pytest.approx(2.0)
    assert math.isnan(ols_slope(np.array([1.0])))
    total = sum(spent_alpha(0.05, k) for k in range(1, 100_000))
    assert 0.0499 < total < 0.05
    with pytest.raises(ValueError):
        spent_alpha(0.05, 0)
