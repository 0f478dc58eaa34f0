"""The monitors against the real zpd.Curriculum (core contract): drift pressure and estimates."""

from __future__ import annotations

import numpy as np
import pytest

import zpd
from zpd.monitors import (
    AccidentalMonitor,
    DriftBudgetConfig,
    KLMonitor,
    MonitorContext,
    MonitorInputError,
    MonitorSuite,
)


def test_kl_monitor_sets_the_curriculum_drift_pressure(make_batch, rng) -> None:
    cur = zpd.Curriculum(num_items=20, policy="zpd", group_size=4, seed=0)
    mon = KLMonitor(DriftBudgetConfig(budget=0.1, soft_fraction=0.5, smoothing=0.0))
    logp = -rng.uniform(0.1, 1.0, (4, 4, 5))
    for gap in [0.0, 0.4, 1.0]:
        k3 = np.exp(-gap) - 1 + gap  # every token has log(base/policy) = -gap
        expected = float(np.clip((k3 - 0.05) / 0.05, 0, 1))
        batch = make_batch(np.zeros((4, 4)), lengths=np.full((4, 4), 5), logprobs=logp,
                           base_logprobs=logp - gap)
        res = mon(batch, MonitorContext(step=0, curriculum=cur))
        assert res.metrics["drift_pressure"] == pytest.approx(expected)
        assert cur.drift_pressure == pytest.approx(expected)


def test_pass_rates_are_read_from_the_curriculum_posterior(make_batch) -> None:
    cur = zpd.Curriculum(num_items=20, policy="uniform", group_size=8, seed=0)
    hard = np.arange(10)
    for _ in range(6):  # items 0..9 never solved, 10..19 half solved
        cur.update(hard, np.zeros((10, 8)))
        cur.update(hard + 10, np.tile([1.0, 0.0], (10, 4)))
    rewards = np.zeros((20, 8))
    rewards[:10, 0] = 1.0  # a lucky success on each never-solved item
    rewards[10:, :4] = 1.0
    batch = make_batch(rewards, item_ids=np.arange(20))
    via_cur = AccidentalMonitor()(batch, MonitorContext(step=6, curriculum=cur))
    p = cur.estimate(np.arange(20)).mean
    via_arr = AccidentalMonitor()(batch, MonitorContext(step=6, pass_rate=p))
    assert via_cur.metrics == via_arr.metrics
    assert via_cur.metrics["uses_posterior"] == 1.0
    assert via_cur.metrics["accidental_rollouts"] == 10
    assert len(via_cur.alerts) == 1


def test_monitor_errors_are_zpd_errors(make_batch) -> None:
    assert issubclass(MonitorInputError, zpd.core.errors.ZpdError)
    suite = MonitorSuite.default()
    with pytest.raises(zpd.core.errors.ZpdError):
        suite(make_batch(np.zeros((2, 2))), MonitorContext(step=0, pass_rate=np.zeros(1)))
