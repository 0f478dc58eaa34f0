"""retention: drop test on anchors and prior-skill sets, calibrated over repeated looks."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.monitors import MonitorContext, MonitorInputError, RetentionConfig, RetentionMonitor

SKILL = np.arange(100, 120)  # prior-skill item ids
G = 8


def _skill_batch(make_batch, rng, acc: float, n_items: int = 8):
    ids = rng.choice(SKILL, n_items, replace=False)
    rewards = (rng.random((n_items, G)) < acc).astype(float)
    return make_batch(rewards, item_ids=ids)


def _run(mon, make_batch, rng, accs: list[float], step0: int = 0):
    out = []
    for t, acc in enumerate(accs):
        out.append(mon(_skill_batch(make_batch, rng, acc), MonitorContext(step=step0 + t)))
    return out


def test_drop_on_prior_skills_raises_a_critical_alert(make_batch, rng) -> None:
    mon = RetentionMonitor(RetentionConfig(track_anchors=False), prior_skills=SKILL)
    # 64 rollouts per step: step 0 is the baseline, step 1 a window at the same accuracy,
    # steps 2.. windows after the skill was damaged.
    results = _run(mon, make_batch, rng, [0.9] * 2 + [0.45] * 4)
    assert results[0].alerts == [] and "prior/pvalue" not in results[0].metrics
    assert results[1].alerts == [] and results[1].metrics["prior/pvalue"] > 0.01
    alerted = results[2]
    assert [a.severity.value for a in alerted.alerts] == ["critical"]
    assert alerted.alerts[0].metric == "prior/window_accuracy"
    assert alerted.metrics["prior/drop"] > 0.3
    assert alerted.metrics["prior/pvalue"] < alerted.metrics["prior/alpha"]


def test_no_drop_does_not_alert(make_batch, rng) -> None:
    mon = RetentionMonitor(RetentionConfig(track_anchors=False), prior_skills=SKILL)
    results = _run(mon, make_batch, rng, [0.9] * 12)
    assert not [a for r in results for a in r.alerts]
    assert results[-1].metrics["prior/baseline_accuracy"] == pytest.approx(0.9, abs=0.08)


def test_false_alert_rate_over_whole_runs_stays_below_alpha(make_batch) -> None:
    """Same accuracy all run long, 10 tested windows per run: family-wise rate <= alpha."""
    rng = np.random.default_rng(11)
    cfg = RetentionConfig(alpha=0.1, track_anchors=False, baseline_trials=32, window_trials=32)
    runs_with_alert = 0
    for _ in range(100):
        mon = RetentionMonitor(cfg, prior_skills=SKILL)
        for t in range(11):
            rewards = (rng.random((4, G)) < 0.7).astype(float)
            res = mon(make_batch(rewards, item_ids=SKILL[:4]), MonitorContext(step=t))
            if res.alerts:
                runs_with_alert += 1
                break
    assert runs_with_alert <= 16  # alpha = 0.1 (binomial 100, 0.1: P(X > 16) ~ 2 %)


def test_small_drop_within_noise_does_not_alert(make_batch, rng) -> None:
    mon = RetentionMonitor(RetentionConfig(track_anchors=False), prior_skills=SKILL)
    results = _run(mon, make_batch, rng, [0.8] * 2 + [0.76] * 4)
    assert not [a for r in results for a in r.alerts]


class _Curriculum:
    """Exposes the contract's ``anchor_ids`` (anchors among the last sample)."""

    def __init__(self) -> None:
        self.anchor_ids = np.array([1, 2, 3], dtype=np.int64)


def test_anchors_come_from_context_or_curriculum(make_batch) -> None:
    rewards = np.ones((6, G))
    rewards[:3] = 0.0  # anchors 1, 2, 3 fail; items 4, 5, 6 succeed
    batch = make_batch(rewards, item_ids=[1, 2, 3, 4, 5, 6])
    a = RetentionMonitor()(batch, MonitorContext(anchor_ids=np.array([1, 2, 3])))
    b = RetentionMonitor()(batch, MonitorContext(curriculum=_Curriculum()))
    assert a.metrics == b.metrics == {"anchors/accuracy": 0.0}
    assert RetentionMonitor()(batch, MonitorContext()).metrics == {}


def test_named_sets_state_round_trip_and_validation(make_batch, rng) -> None:
    mon = RetentionMonitor(prior_skills={"add 2-digit": SKILL[:10], "rev": SKILL[10:]})
    assert mon.set_names == ["anchors", "add_2-digit", "rev"]
    _run(mon, make_batch, rng, [0.9] * 3)
    copy = RetentionMonitor(prior_skills={"add 2-digit": SKILL[:10], "rev": SKILL[10:]})
    copy.load_state_dict(mon.state_dict())
    assert copy.state_dict() == mon.state_dict()
    with pytest.raises(MonitorInputError, match="watches"):
        RetentionMonitor(prior_skills=SKILL).load_state_dict(mon.state_dict())
    with pytest.raises(MonitorInputError, match="nothing to watch"):
        RetentionMonitor(RetentionConfig(track_anchors=False))
    with pytest.raises(MonitorInputError, match="int id array"):
        RetentionMonitor(prior_skills=[0.5, 1.5])
    with pytest.raises(MonitorInputError, match="reserved"):
        RetentionMonitor(prior_skills={"anchors": [1]})
