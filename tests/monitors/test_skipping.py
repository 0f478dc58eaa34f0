"""skipping: correct traces far shorter than the item's usual success, and the trend."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.monitors import MonitorContext, MonitorInputError, SkippingConfig, SkippingMonitor

B, G = 10, 8


def _history(mon: SkippingMonitor, make_batch, steps: int = 2, length: int = 20) -> None:
    for t in range(steps):
        mon(make_batch(np.ones((B, G)), lengths=np.full((B, G), length)), MonitorContext(step=t))


def test_short_correct_traces_alert(make_batch) -> None:
    mon = SkippingMonitor()
    _history(mon, make_batch)
    lengths = np.full((B, G), 20)
    lengths[:, :3] = 5  # 3 of 8 correct rollouts per item at a quarter of the usual length
    res = mon(make_batch(np.ones((B, G)), lengths=lengths), MonitorContext(step=2))
    assert res.metrics["eligible"] == B * G
    assert res.metrics["skip_share"] == pytest.approx(3 / 8)
    assert [a.metric for a in res.alerts] == ["skip_share"]


def test_usual_lengths_and_short_failures_do_not_alert(make_batch) -> None:
    mon = SkippingMonitor()
    _history(mon, make_batch)
    rng = np.random.default_rng(0)
    lengths = rng.integers(16, 25, (B, G))
    rewards = np.ones((B, G))
    rewards[:, :3] = 0.0
    lengths[:, :3] = 2  # short but wrong: not a skipped computation
    res = mon(make_batch(rewards, lengths=lengths), MonitorContext(step=2))
    assert res.metrics["skip_share"] == 0.0 and res.alerts == []


def test_items_without_history_are_not_judged(make_batch) -> None:
    mon = SkippingMonitor()
    res = mon(make_batch(np.ones((B, G)), lengths=np.full((B, G), 1)), MonitorContext(step=0))
    assert res.metrics == {"eligible": 0.0} and res.alerts == []


def test_rising_skip_share_raises_a_trend_note(make_batch) -> None:
    mon = SkippingMonitor(SkippingConfig(share_alert=0.9))
    _history(mon, make_batch, steps=3)
    notes = []
    for t, k in enumerate([0, 0, 1, 1, 2, 2]):
        lengths = np.full((B, G), 20)
        lengths[:, :k] = 4
        res = mon(make_batch(np.ones((B, G)), lengths=lengths), MonitorContext(step=3 + t))
        notes += [a for a in res.alerts if a.metric == "skip_share_trend"]
    assert res.metrics["skip_share_trend"] > 0
    assert notes and notes[-1].severity.value == "info"


def test_state_round_trip_gives_the_same_answer(make_batch) -> None:
    mon = SkippingMonitor()
    _history(mon, make_batch, steps=3)
    copy = SkippingMonitor()
    copy.load_state_dict(mon.state_dict())
    lengths = np.full((B, G), 20)
    lengths[:, 0] = 3
    batch = make_batch(np.ones((B, G)), lengths=lengths)
    assert mon(batch, MonitorContext(step=3)).metrics == copy(batch, MonitorContext(step=3)).metrics
    with pytest.raises(MonitorInputError):
        copy.load_state_dict({"item_ids": [1], "counts": [1, 2]})


def test_a_shorter_format_is_not_skipping_but_a_shorter_trace_in_it_is(make_batch) -> None:
    # Scratchpad answers (length 20) build each item's reference; then the policy answers the
    # same items directly (length 5), a legitimate switch when the prompt allows any format.
    mon = SkippingMonitor()
    scratch = [["scratch"] * G for _ in range(B)]
    direct = [["direct"] * G for _ in range(B)]
    for t in range(2):
        mon(make_batch(np.ones((B, G)), lengths=np.full((B, G), 20), formats=scratch),
            MonitorContext(step=t))
    res = mon(make_batch(np.ones((B, G)), lengths=np.full((B, G), 5), formats=direct),
              MonitorContext(step=2))
    assert res.metrics["eligible"] == 0 and res.alerts == []
    short = np.full((B, G), 20)
    short[:, :4] = 5  # half of the scratchpad traces now skip the work
    res = mon(make_batch(np.ones((B, G)), lengths=short, formats=scratch), MonitorContext(step=3))
    assert res.metrics["skip_share"] == pytest.approx(0.5)
    assert [a.metric for a in res.alerts] == ["skip_share"]
