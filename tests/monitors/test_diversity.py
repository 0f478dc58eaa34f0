"""diversity: token entropy and distinct answers on unsolved groups against early baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zpd.monitors import DiversityConfig, DiversityMonitor, MonitorContext

B, G, T = 8, 8, 12


def _batch(make_batch, rng, *, distinct: bool, mean_nll: float, solved: int = 0):
    rewards = np.zeros((B, G))
    rewards[:solved, 0] = 1.0
    answers = [[f"{i}-{j}" if distinct else f"{i}" for j in range(G)] for i in range(B)]
    logp = -rng.uniform(0.5 * mean_nll, 1.5 * mean_nll, (B, G, T))
    return make_batch(rewards, answers=answers, lengths=np.full((B, G), T), logprobs=logp)


def _warm(mon, make_batch, rng, steps: int = 5) -> None:
    for t in range(steps):
        mon(_batch(make_batch, rng, distinct=True, mean_nll=2.0), MonitorContext(step=t))


def test_answers_collapsing_on_unsolved_items_alert(make_batch, rng) -> None:
    mon = DiversityMonitor()
    _warm(mon, make_batch, rng)
    assert mon.baseline("distinct_answers_unsolved") == 1.0
    res = mon(_batch(make_batch, rng, distinct=False, mean_nll=2.0), MonitorContext(step=5))
    assert res.metrics["distinct_answers_unsolved"] == pytest.approx(1 / G)
    assert [a.metric for a in res.alerts] == ["distinct_answers_unsolved_vs_baseline"]


def test_entropy_collapse_alerts(make_batch, rng) -> None:
    mon = DiversityMonitor()
    _warm(mon, make_batch, rng)
    res = mon(_batch(make_batch, rng, distinct=True, mean_nll=0.3), MonitorContext(step=5))
    assert res.metrics["token_entropy_vs_baseline"] == pytest.approx(0.15, abs=0.03)
    assert [a.metric for a in res.alerts] == ["token_entropy_vs_baseline"]


def test_steady_diversity_does_not_alert(make_batch, rng) -> None:
    mon = DiversityMonitor()
    _warm(mon, make_batch, rng)
    for t in range(5, 10):
        res = mon(_batch(make_batch, rng, distinct=True, mean_nll=2.0), MonitorContext(step=t))
        assert res.alerts == []
    assert res.metrics["token_entropy_vs_baseline"] == pytest.approx(1.0, abs=0.05)


def test_no_alert_before_the_baseline_exists(make_batch, rng) -> None:
    mon = DiversityMonitor()
    res = mon(_batch(make_batch, rng, distinct=False, mean_nll=0.1), MonitorContext())
    assert res.alerts == [] and "token_entropy_vs_baseline" not in res.metrics
    assert math.isnan(mon.baseline("token_entropy"))


def test_solved_groups_are_separated_and_few_unsolved_groups_do_not_alert(make_batch, rng) -> None:
    mon = DiversityMonitor(DiversityConfig(min_groups=4))
    _warm(mon, make_batch, rng)
    res = mon(_batch(make_batch, rng, distinct=False, mean_nll=2.0, solved=6),
              MonitorContext(step=5))
    assert res.metrics["unsolved_groups"] == 2
    assert res.metrics["distinct_answers_solved"] == pytest.approx(1 / G)
    assert res.alerts == []


def test_mc_entropy_estimate_is_unbiased_and_exact_entropy_wins(make_batch, rng) -> None:
    p = np.array([0.6, 0.3, 0.1])
    exact = float(-(p * np.log(p)).sum())
    tokens = rng.choice(3, size=(B, G, 200), p=p)
    logp = np.log(p)[tokens]
    batch = make_batch(np.zeros((B, G)), lengths=np.full((B, G), 200), logprobs=logp)
    m = DiversityMonitor()(batch, MonitorContext()).metrics
    assert m["token_entropy"] == pytest.approx(exact, abs=0.02) and m["entropy_is_estimate"] == 1
    batch = make_batch(np.zeros((B, G)), lengths=np.full((B, G), 200), logprobs=logp,
                       token_entropy=np.full((B, G, 200), exact))
    m = DiversityMonitor()(batch, MonitorContext()).metrics
    assert m["token_entropy"] == pytest.approx(exact) and m["entropy_is_estimate"] == 0
