"""groups: zero-variance share and truncation rate on batches built with known shares."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.monitors import GroupsConfig, GroupsMonitor, MonitorContext, MonitorInputError

CTX = MonitorContext(step=4)


def _rewards(all_correct: int, all_wrong: int, mixed: int, g: int = 8) -> np.ndarray:
    mixed_row = np.array([1.0] * (g // 2) + [0.0] * (g - g // 2))
    rows = [np.ones(g)] * all_correct + [np.zeros(g)] * all_wrong + [mixed_row] * mixed
    return np.stack(rows)


def test_mostly_zero_variance_batch_alerts_with_the_right_shares(make_batch) -> None:
    res = GroupsMonitor()(make_batch(_rewards(4, 3, 3)), CTX)
    m = res.metrics
    assert m["zero_variance_share"] == pytest.approx(0.7)
    assert m["all_correct_share"] == pytest.approx(0.4)
    assert m["all_wrong_share"] == pytest.approx(0.3)
    assert m["num_groups"] == 10 and m["mean_group_size"] == 8
    assert [a.metric for a in res.alerts] == ["zero_variance_share"]
    assert res.alerts[0].step == 4 and res.alerts[0].severity.value == "warning"


def test_informative_batch_does_not_alert(make_batch) -> None:
    res = GroupsMonitor()(make_batch(_rewards(1, 1, 8)), CTX)
    assert res.metrics["zero_variance_share"] == pytest.approx(0.2)
    assert res.alerts == []
    assert "truncation_rate" not in res.metrics  # unknown, not silently 0


def test_fractional_constant_group_is_zero_variance_but_neither_correct_nor_wrong(make_batch) -> None:
    r = np.array([[0.5] * 4, [1.0, 0.0, 1.0, 0.0]])
    m = GroupsMonitor()(make_batch(r), CTX).metrics
    assert m["zero_variance_share"] == 0.5
    assert m["all_correct_share"] == 0.0 and m["all_wrong_share"] == 0.0


def test_truncation_rate_alerts_above_threshold(make_batch) -> None:
    r = _rewards(0, 0, 2)  # 16 rollouts
    trunc = np.zeros((2, 8), bool)
    trunc[0, :3] = True  # 3 / 16 truncated, rewards 1 there
    res = GroupsMonitor()(make_batch(r, truncated=trunc), CTX)
    assert res.metrics["truncation_rate"] == pytest.approx(3 / 16)
    assert res.metrics["truncated_mean_reward"] == 1.0
    assert [a.metric for a in res.alerts] == ["truncation_rate"]
    trunc[0, 1:] = False  # 1 / 16 < 0.1
    assert GroupsMonitor()(make_batch(r, truncated=trunc), CTX).alerts == []


def test_config_is_validated() -> None:
    with pytest.raises(MonitorInputError, match="zero_variance_alert"):
        GroupsConfig(zero_variance_alert=1.5)
