"""coupling: Spearman(length, difficulty) split in/out of distribution, decoupling test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from zpd.monitors import CouplingMonitor, MonitorContext, MonitorInputError

N, G = 60, 4


def _batch(make_batch, rng, difficulty: np.ndarray, coupled_out: bool):
    """Items 0..29 in-distribution (length grows with difficulty); 30..59 out."""
    base = 10 + 40 * difficulty
    noise = rng.normal(0, 2, N)
    item_len = np.where(np.arange(N) < 30, base + noise,
                        base + noise if coupled_out else rng.uniform(10, 50, N))
    lengths = np.repeat(np.round(item_len).astype(int)[:, None], G, axis=1)
    return make_batch(np.zeros((N, G)), lengths=lengths), item_len


def test_length_tracking_difficulty_only_in_distribution_raises_a_note(make_batch, rng) -> None:
    difficulty = rng.uniform(0, 1, N)
    batch, _ = _batch(make_batch, rng, difficulty, coupled_out=False)
    ctx = MonitorContext(step=5, difficulty=difficulty, in_distribution=np.arange(N) < 30)
    res = CouplingMonitor()(batch, ctx)
    m = res.metrics
    assert m["spearman_in"] > 0.9 and abs(m["spearman_out"]) < 0.5
    assert m["items_in"] == 30 and m["items_out"] == 30
    expected_in = sps.spearmanr(batch.lengths[::G][:30], difficulty[:30]).statistic
    assert m["spearman_in"] == pytest.approx(expected_in)
    assert [a.severity.value for a in res.alerts] == ["info"]


def test_coupled_everywhere_does_not_alert(make_batch, rng) -> None:
    difficulty = rng.uniform(0, 1, N)
    batch, _ = _batch(make_batch, rng, difficulty, coupled_out=True)
    ctx = MonitorContext(step=5, difficulty=difficulty, in_distribution=np.arange(N) < 30)
    res = CouplingMonitor()(batch, ctx)
    assert res.metrics["spearman_out"] > 0.9 and res.alerts == []


def test_distance_quantile_split_matches_the_flag(make_batch, rng) -> None:
    difficulty = rng.uniform(0, 1, N)
    batch, _ = _batch(make_batch, rng, difficulty, coupled_out=False)
    distance = np.where(np.arange(N) < 30, rng.uniform(0, 1, N), rng.uniform(2, 3, N))
    by_flag = CouplingMonitor()(batch, MonitorContext(difficulty=difficulty,
                                                      in_distribution=np.arange(N) < 30))
    by_dist = CouplingMonitor()(batch, MonitorContext(difficulty=difficulty, distance=distance))
    assert by_dist.metrics == by_flag.metrics


def test_difficulty_defaults_to_posterior_then_batch_failure_rate(make_batch, rng) -> None:
    p = rng.uniform(0, 1, N)
    batch, _ = _batch(make_batch, rng, 1 - p, coupled_out=True)
    m = CouplingMonitor()(batch, MonitorContext(pass_rate=p)).metrics
    assert m["spearman_all"] > 0.9 and m["uses_posterior"] == 1.0
    assert "spearman_in" not in m  # no split without a flag or distance
    m = CouplingMonitor()(batch, MonitorContext()).metrics
    assert m["uses_posterior"] == 0.0  # rewards are all 0: constant difficulty -> NaN
    assert np.isnan(m["spearman_all"])


def test_bad_side_information_raises(make_batch, rng) -> None:
    batch, _ = _batch(make_batch, rng, rng.uniform(0, 1, N), coupled_out=True)
    with pytest.raises(MonitorInputError, match="distance"):
        CouplingMonitor()(batch, MonitorContext(distance=np.zeros((N, 2))))
