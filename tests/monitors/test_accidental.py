"""accidental: positive advantage on near-impossible items, with a posterior or without."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zpd.monitors import (
    AccidentalMonitor,
    MonitorContext,
    MonitorInputError,
    grpo_advantages,
)

G = 8


def _lone_and_half(n_hard: int = 10, n_mid: int = 10) -> np.ndarray:
    hard = np.zeros((n_hard, G))
    hard[:, 0] = 1.0  # one lucky success per near-impossible group
    mid = np.zeros((n_mid, G))
    mid[:, :4] = 1.0
    return np.vstack([hard, mid])


def test_grpo_advantage_of_a_lone_success_is_sqrt_g_minus_1(make_batch) -> None:
    adv = grpo_advantages(make_batch(_lone_and_half(1, 0)))
    assert adv[0] == pytest.approx(math.sqrt(G - 1), rel=1e-5)
    assert adv[1:] == pytest.approx(-1 / math.sqrt(G - 1), rel=1e-5)


def test_lucky_successes_on_hard_items_alert_with_their_advantage_mass(make_batch) -> None:
    batch = make_batch(_lone_and_half())
    pass_rate = np.array([0.02] * 10 + [0.5] * 10)
    res = AccidentalMonitor()(batch, MonitorContext(step=1, pass_rate=pass_rate))
    lone = 10 * math.sqrt(G - 1)
    assert res.metrics["accidental_advantage_mass"] == pytest.approx(lone / (lone + 40), rel=1e-5)
    assert res.metrics["accidental_share"] == pytest.approx(10 / 50)
    assert res.metrics["accidental_rollouts"] == 10
    assert res.metrics["near_impossible_group_share"] == 0.5
    assert res.metrics["uses_posterior"] == 1.0
    assert [a.metric for a in res.alerts] == ["accidental_advantage_mass"]


def test_same_rewards_on_items_the_model_can_do_do_not_alert(make_batch) -> None:
    batch = make_batch(_lone_and_half())
    res = AccidentalMonitor()(batch, MonitorContext(step=1, pass_rate=np.full(20, 0.3)))
    assert res.metrics["accidental_advantage_mass"] == 0.0 and res.alerts == []


class _Curriculum:
    """A stand-in exposing the curriculum's estimate() contract (posterior means by id)."""

    class _Est:
        def __init__(self, mean: np.ndarray) -> None:
            self.mean = mean

    def __init__(self, p: np.ndarray) -> None:
        self.p = p

    def estimate(self, ids: np.ndarray) -> _Est:
        return self._Est(self.p[ids])


def test_posterior_may_come_from_a_curriculum_object(make_batch) -> None:
    batch = make_batch(_lone_and_half())
    p = np.array([0.02] * 10 + [0.5] * 10)
    a = AccidentalMonitor()(batch, MonitorContext(step=1, pass_rate=p)).metrics
    b = AccidentalMonitor()(batch, MonitorContext(step=1, curriculum=_Curriculum(p))).metrics
    assert a == b


def test_without_posterior_lone_successes_count_by_leave_one_out(make_batch) -> None:
    res = AccidentalMonitor()(make_batch(_lone_and_half()), MonitorContext(step=1))
    assert res.metrics["uses_posterior"] == 0.0
    assert res.metrics["accidental_rollouts"] == 10  # peers of a lone success all failed
    assert len(res.alerts) == 1


def test_trainer_advantages_are_used_when_given(make_batch) -> None:
    r = _lone_and_half(2, 0)
    adv = np.where(r > 0, 0.5, 0.0)  # e.g. a tracker-informed baseline that damps flukes
    batch = make_batch(r, advantages=adv)
    res = AccidentalMonitor()(batch, MonitorContext(step=1, pass_rate=np.zeros(2)))
    assert res.metrics["accidental_advantage_mass"] == 1.0
    assert res.metrics["accidental_rollouts"] == 2
    assert res.alerts == []  # fewer than min_accidental=3


def test_bad_pass_rates_raise(make_batch) -> None:
    batch = make_batch(_lone_and_half())
    with pytest.raises(MonitorInputError, match="covering every item"):
        AccidentalMonitor()(batch, MonitorContext(step=1, pass_rate=np.zeros(5)))
    with pytest.raises(MonitorInputError, match=r"\[0, 1\]"):
        AccidentalMonitor()(batch, MonitorContext(step=1, pass_rate=np.full(20, 1.5)))
    with pytest.raises(MonitorInputError, match="shape"):
        AccidentalMonitor()(batch, MonitorContext(step=1, pass_rate=lambda ids: np.zeros(3)))
