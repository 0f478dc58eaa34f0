"""kl: k1/k3 estimators against an exact KL, the drift budget, and the curriculum hook."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.monitors import (
    DriftBudget,
    DriftBudgetConfig,
    KLMonitor,
    MonitorContext,
    MonitorInputError,
    MonitorSuite,
    kl_estimates,
)


def _sampled_logprobs(rng: np.random.Generator, p: np.ndarray, q: np.ndarray, shape):
    """Tokens sampled from p; their log-probs under p and under q."""
    tokens = rng.choice(p.size, size=shape, p=p)
    return np.log(p)[tokens], np.log(q)[tokens]


def test_k1_and_k3_estimate_the_exact_kl(rng) -> None:
    p = np.array([0.5, 0.2, 0.2, 0.1])
    q = np.array([0.25, 0.25, 0.25, 0.25])
    exact = float(np.sum(p * np.log(p / q)))
    logp, logq = _sampled_logprobs(rng, p, q, (400, 50))
    est = kl_estimates(logp, logq, np.ones((400, 50), bool))
    assert est["k1"] == pytest.approx(exact, abs=0.01)
    assert est["k3"] == pytest.approx(exact, abs=0.01)
    assert est["k3_seq"] == pytest.approx(50 * est["k3"])


def test_k3_is_nonnegative_and_zero_at_the_base(rng) -> None:
    logp = np.log(rng.uniform(0.01, 1, (5, 7)))
    logq = np.log(rng.uniform(0.01, 1, (5, 7)))
    mask = np.ones((5, 7), bool)
    assert kl_estimates(logp, logq, mask)["k3"] >= 0
    same = kl_estimates(logp, logp, mask)
    assert same["k1"] == 0.0 and same["k3"] == 0.0


def test_masked_tokens_do_not_count() -> None:
    logp = np.array([[-1.0, -1.0]])
    logq = np.array([[-2.0, -50.0]])
    est = kl_estimates(logp, logq, np.array([[True, False]]))
    assert est["k1"] == pytest.approx(1.0)


def test_drift_budget_pressure_ramps_between_soft_start_and_budget() -> None:
    cfg = DriftBudgetConfig(budget=0.1, soft_fraction=0.5, smoothing=0.0)
    b = DriftBudget(cfg)
    assert b.pressure == 0.0
    assert b.update(0.04) == 0.0
    assert b.update(0.075) == pytest.approx(0.5)
    assert b.update(0.3) == 1.0
    assert b.cumulative == pytest.approx(0.415)


def test_cumulative_budget_never_releases() -> None:
    b = DriftBudget(DriftBudgetConfig(budget=1.0, cumulative_budget=0.2, smoothing=0.0))
    for _ in range(4):
        b.update(0.05)
    assert b.pressure == 1.0
    b.update(0.0)
    assert b.pressure == 1.0


def test_drift_budget_validation_and_state() -> None:
    with pytest.raises(MonitorInputError, match="budget"):
        DriftBudgetConfig(budget=0.0)
    with pytest.raises(MonitorInputError, match="smoothing"):
        DriftBudgetConfig(smoothing=1.0)
    b = DriftBudget()
    with pytest.raises(MonitorInputError, match="finite KL"):
        b.update(float("nan"))
    assert b.steps == 0  # unchanged
    b.update(0.2)
    c = DriftBudget()
    c.load_state_dict(b.state_dict())
    assert c.pressure == b.pressure and c.cumulative == b.cumulative


class _RecordingCurriculum:
    """Exposes only ``set_drift_pressure`` from the core contract, and remembers the calls."""

    def __init__(self) -> None:
        self.pressures: list[float] = []

    def set_drift_pressure(self, x: float) -> None:
        self.pressures.append(x)


def _kl_batch(make_batch, rng, gap: float):
    logp = -rng.uniform(0.1, 1.0, (4, 4, 6))
    return make_batch(np.zeros((4, 4)), lengths=np.full((4, 4), 6), logprobs=logp,
                      base_logprobs=logp - gap)


def test_high_kl_alerts_and_pushes_pressure_to_the_curriculum(make_batch, rng) -> None:
    cur = _RecordingCurriculum()
    mon = KLMonitor(DriftBudgetConfig(budget=0.05, smoothing=0.0))
    res = mon(_kl_batch(make_batch, rng, gap=1.0), MonitorContext(step=3, curriculum=cur))
    # log r = -1 on every token: k1 = 1, k3 = e^-1 - 1 + 1 = e^-1
    assert res.metrics["k1"] == pytest.approx(1.0)
    assert res.metrics["k3"] == pytest.approx(np.exp(-1.0))
    assert res.metrics["drift_pressure"] == 1.0 and cur.pressures == [1.0]
    assert [a.metric for a in res.alerts] == ["k3_ema"]


def test_an_observer_suite_measures_drift_but_does_not_steer(make_batch, rng) -> None:
    cur = _RecordingCurriculum()
    mon = KLMonitor(DriftBudgetConfig(budget=0.05, smoothing=0.0), steer=False)
    res = mon(_kl_batch(make_batch, rng, gap=1.0), MonitorContext(step=3, curriculum=cur))
    assert res.metrics["drift_pressure"] == 1.0 and cur.pressures == []
    assert [a.metric for a in res.alerts] == ["k3_ema"]
    suite = MonitorSuite.default(None, steer_curriculum=False)
    suite(_kl_batch(make_batch, rng, gap=1.0), MonitorContext(step=4, curriculum=cur))
    assert cur.pressures == []


def test_low_kl_does_not_alert(make_batch, rng) -> None:
    mon = KLMonitor()
    res = mon(_kl_batch(make_batch, rng, gap=0.01), MonitorContext(step=0))
    assert res.metrics["k3"] < 1e-4 and res.metrics["drift_pressure"] == 0.0
    assert res.alerts == []


def test_batch_without_logprobs_gives_no_kl(make_batch) -> None:
    mon = KLMonitor()
    assert mon(make_batch(np.zeros((2, 2))), MonitorContext()).metrics == {}
    assert mon.budget.steps == 0
