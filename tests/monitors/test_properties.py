"""Invariants of the batch-level monitors on arbitrary binary reward matrices (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zpd.monitors import AccidentalMonitor, GroupsMonitor, MonitorContext, grpo_advantages

rewards_st = st.integers(1, 6).flatmap(
    lambda b: st.integers(2, 8).flatmap(
        lambda g: arrays(np.float64, (b, g), elements=st.sampled_from([0.0, 1.0]))))

# make_batch returns a pure builder function, so sharing it across examples is safe
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(rewards=rewards_st)
@SETTINGS
def test_group_shares_match_a_direct_count(make_batch, rewards) -> None:
    batch = make_batch(rewards)
    m = GroupsMonitor()(batch, MonitorContext()).metrics
    const = (rewards == rewards[:, :1]).all(axis=1)
    assert m["zero_variance_share"] == const.mean()
    assert m["all_correct_share"] == (rewards == 1).all(axis=1).mean()
    assert m["all_wrong_share"] == (rewards == 0).all(axis=1).mean()
    assert m["all_correct_share"] + m["all_wrong_share"] == pytest.approx(m["zero_variance_share"])


@given(rewards=rewards_st)
@SETTINGS
def test_grpo_advantages_are_centred_and_accidental_mass_is_a_share(make_batch, rewards) -> None:
    batch = make_batch(rewards)
    adv = grpo_advantages(batch).reshape(rewards.shape)  # (B, G)
    assert np.allclose(adv.sum(axis=1), 0.0, atol=1e-9)
    assert np.all(adv[(rewards == rewards[:, :1]).all(axis=1)] == 0.0)
    p = np.linspace(0, 1, rewards.shape[0])
    m = AccidentalMonitor()(batch, MonitorContext(pass_rate=p)).metrics
    assert 0.0 <= m["accidental_advantage_mass"] <= 1.0
    assert 0.0 <= m["accidental_share"] <= 1.0
