"""Worked numbers for the Beta tracker: prior, update, lazy decay toward a moving prior."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.core.config import TrackerConfig
from zpd.core.tracker import Tracker, beta_moments, prob_mixed

ONE = np.array([0])


def fixed(forgetting: float) -> Tracker:
    return Tracker(TrackerConfig(forgetting=forgetting, adapt_forgetting=False), 3)


def test_unseen_item_reads_as_the_prior() -> None:
    t = fixed(0.5)
    a, b = t.posterior(ONE, np.array([0.3]), np.array([10.0]), step=4)
    assert (a[0], b[0]) == pytest.approx((3.0, 7.0))
    assert not t.seen(ONE)[0]


def test_update_adds_successes_and_failures() -> None:
    t = fixed(0.5)
    a, b = t.posterior(ONE, np.array([0.3]), np.array([10.0]), step=1)
    t.observe(ONE, np.array([6.0]), np.array([8.0]), a, b, step=1)
    a1, b1 = t.posterior(ONE, np.array([0.9]), np.array([10.0]), step=1)  # same round: no decay
    assert (a1[0], b1[0]) == pytest.approx((9.0, 9.0))
    assert t.seen(ONE)[0]


def test_decay_goes_toward_the_current_prediction_not_a_flat_prior() -> None:
    t = fixed(0.5)
    t.observe(ONE, np.array([6.0]), np.array([8.0]), np.array([3.0]), np.array([7.0]), step=1)
    # Two rounds later, 0.5**2 = 0.25 of the evidence is kept; the rest is the prior now
    # (prediction 0.2 with strength 10): a = 0.25*9 + 0.75*2 = 3.75, b = 0.25*9 + 0.75*8 = 8.25.
    a, b = t.posterior(ONE, np.array([0.2]), np.array([10.0]), step=3)
    assert (a[0], b[0]) == pytest.approx((3.75, 8.25))
    mean, _ = beta_moments(a, b)
    assert mean[0] == pytest.approx(0.3125)
    # Long after, only the prediction is left.
    a, b = t.posterior(ONE, np.array([0.2]), np.array([10.0]), step=60)
    assert a[0] / (a[0] + b[0]) == pytest.approx(0.2, abs=1e-9)


def test_prob_mixed_worked_values_and_monte_carlo() -> None:
    assert prob_mixed(np.array([1.0]), np.array([1.0]), 8)[0] == pytest.approx(7 / 9)
    # A near point mass at 0.5 gives 1 - 2 * 0.5**8.
    big = prob_mixed(np.array([1e7]), np.array([1e7]), 8)[0]
    assert big == pytest.approx(1 - 2 * 0.5**8, abs=1e-5)
    rng = np.random.default_rng(0)
    p = rng.beta(2.0, 3.0, 200_000)
    k = rng.binomial(8, p)
    mc = np.mean((k > 0) & (k < 8))
    assert prob_mixed(np.array([2.0]), np.array([3.0]), 8)[0] == pytest.approx(mc, abs=0.005)
    # Large groups use the overflow-safe form and agree with the closed form limit.
    assert prob_mixed(np.array([2.0]), np.array([3.0]), 64)[0] == pytest.approx(
        1 - np.mean(p**64) - np.mean((1 - p) ** 64), abs=0.005)


def test_adaptive_forgetting_picks_the_rate_that_predicts_best() -> None:
    t = Tracker(TrackerConfig(forgetting=0.85, adapt_forgetting=True), 50)
    ids = np.arange(50)
    prior_m, prior_s = np.full(50, 0.5), np.full(50, 2.0)
    # Items flip between always-right and always-wrong every round: old evidence misleads,
    # so the fastest forgetting in the grid predicts best.
    for step in range(1, 12):
        rate = np.full(50, float(step % 2))
        a, b = t.posterior(ids, prior_m, prior_s, step)
        t.score_rates(ids, rate, prior_m, prior_s, step)
        t.observe(ids, rate * 8, np.full(50, 8.0), a, b, step)
        t.end_round()
    assert t.lam == pytest.approx(min(t.grid))
    t2 = Tracker(TrackerConfig(forgetting=0.85, adapt_forgetting=True), 50)
    for step in range(1, 12):  # stable items: remembering is best
        rate = np.full(50, 0.9)
        a, b = t2.posterior(ids, prior_m, prior_s, step)
        t2.score_rates(ids, rate, prior_m, prior_s, step)
        t2.observe(ids, rate * 8, np.full(50, 8.0), a, b, step)
        t2.end_round()
    assert t2.lam == pytest.approx(max(t2.grid))
