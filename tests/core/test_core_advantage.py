"""Worked numbers for each advantage formula (G = 8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from corehelpers import same_state

import zpd
from zpd.core import advantage

LONE = np.array([[1.0, 0, 0, 0, 0, 0, 0, 0]])
HALF = np.array([[1.0, 1, 1, 1, 0, 0, 0, 0]])


def test_grpo_lone_success_gets_sqrt_g_minus_one() -> None:
    a = advantage.grpo(LONE)
    assert a[0, 0] == pytest.approx(math.sqrt(7), rel=1e-5)
    assert a[0, 1:] == pytest.approx(-1 / math.sqrt(7), rel=1e-5)


def test_grpo_half_group_is_plus_minus_one_and_constant_group_zero() -> None:
    a = advantage.grpo(np.vstack([HALF, np.ones((1, 8)), np.zeros((1, 8))]))
    assert a[0] == pytest.approx([1, 1, 1, 1, -1, -1, -1, -1], rel=1e-5)
    assert np.all(a[1:] == 0)


def test_dr_grpo_is_mean_only() -> None:
    a = advantage.dr_grpo(LONE)
    assert a[0, 0] == pytest.approx(0.875)
    assert a[0, 1:] == pytest.approx(-0.125)


def test_tracker_informed_does_not_amplify_a_fluke() -> None:
    a = advantage.tracker_informed(LONE, prior_mean=[0.01], prior_strength=[8.0])
    m = (8 * 0.01 + 1) / 16  # 0.0675
    scale = math.sqrt(m * (1 - m)) / 0.25
    assert a[0, 0] == pytest.approx((1 - m) * scale)  # 0.936
    assert a[0, 0] == pytest.approx(0.936, abs=1e-3)
    assert a[0, 1] == pytest.approx(-m * scale)  # -0.068
    assert a[0, 0] < advantage.grpo(LONE)[0, 0] / 2.5


def test_tracker_informed_matches_grpo_on_a_medium_item() -> None:
    a = advantage.tracker_informed(HALF, prior_mean=[0.5], prior_strength=[8.0])
    assert a[0] == pytest.approx(advantage.grpo(HALF)[0], rel=1e-5)


def test_tracker_informed_zero_for_constant_groups_and_validates() -> None:
    a = advantage.tracker_informed(np.ones((2, 4)), [0.3, 0.9], [2.0, 2.0])
    assert np.all(a == 0)
    with pytest.raises(zpd.RewardError):
        advantage.tracker_informed(LONE, [1.5], [1.0])
    with pytest.raises(zpd.RewardError):
        advantage.tracker_informed(LONE, [0.5, 0.5], [1.0, 1.0])
    with pytest.raises(zpd.RewardError):
        advantage.tracker_informed(LONE * 2, [0.5], [1.0])


def test_informative_flags_groups_with_variance() -> None:
    r = np.array([[0, 0, 0], [1, 1, 1], [0, 1, 0], [0.5, 0.5, 0.25]])
    assert zpd.informative(r).tolist() == [False, False, True, True]
    with pytest.raises(zpd.RewardError):
        zpd.informative(np.array([0.0, 1.0]))
    with pytest.raises(zpd.RewardError):
        zpd.informative(np.array([[np.nan, 1.0]]))


def test_curriculum_advantage_uses_posterior_before_update(trained: zpd.Curriculum) -> None:
    ids = np.array([0, 1])
    r = np.vstack([LONE, HALF])
    est = trained.estimate(ids)
    a = trained.advantage(ids, r, kind="tracker")
    assert a.shape == (2, 8)
    assert np.all(np.isfinite(a))
    # Its baseline is the posterior mean after the group: advantages of successes shrink with it.
    before = trained.state_dict()
    assert np.allclose(trained.advantage(ids, r, kind="grpo"), advantage.grpo(r))
    assert np.allclose(trained.advantage(ids, r, kind=zpd.AdvantageKind.DR_GRPO),
                       advantage.dr_grpo(r))
    assert est.mean.shape == (2,)
    assert same_state(before, trained.state_dict())  # advantage() changes nothing
    with pytest.raises(zpd.ConfigError):
        trained.advantage(ids, r, kind="ppo")
