"""formats: shares, entropy, collapse alert, vanished formats, labeller callables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zpd.monitors import FormatsConfig, FormatsMonitor, MonitorContext, MonitorInputError

G = 10


def _batch(make_batch, labels: list[str]):
    b = len(labels) // G
    formats = [labels[i * G:(i + 1) * G] for i in range(b)]
    return make_batch(np.zeros((b, G)), formats=formats)


def test_dominant_format_alerts(make_batch) -> None:
    labels = ["direct"] * 95 + ["scratchpad"] * 5
    res = FormatsMonitor()(_batch(make_batch, labels), MonitorContext(step=9))
    m = res.metrics
    assert m["share/direct"] == pytest.approx(0.95) and m["share/scratchpad"] == pytest.approx(0.05)
    assert m["top_share"] == pytest.approx(0.95)
    p = np.array([0.95, 0.05])
    assert m["entropy"] == pytest.approx(float(-(p * np.log(p)).sum()))
    assert [a.metric for a in res.alerts] == ["top_share"]
    assert "'direct'" in res.alerts[0].message


def test_balanced_formats_do_not_alert(make_batch) -> None:
    res = FormatsMonitor()(_batch(make_batch, ["direct", "scratchpad"] * 50), MonitorContext())
    assert res.metrics["entropy"] == pytest.approx(math.log(2))
    assert res.metrics["normalized_entropy"] == pytest.approx(1.0)
    assert res.alerts == []


def test_vanished_format_is_reported_at_zero_and_collapse_alerts(make_batch) -> None:
    mon = FormatsMonitor()
    mon(_batch(make_batch, ["direct", "carry-trace"] * 20), MonitorContext(step=0))
    res = mon(_batch(make_batch, ["direct"] * 40), MonitorContext(step=1))
    assert res.metrics["share/carry-trace"] == 0.0
    assert res.metrics["normalized_entropy"] == 0.0
    assert len(res.alerts) == 1
    copy = FormatsMonitor()
    copy.load_state_dict(mon.state_dict())
    assert "share/carry-trace" in copy(_batch(make_batch, ["direct"] * 20), MonitorContext()).metrics


def test_a_task_with_a_single_format_never_alerts(make_batch) -> None:
    res = FormatsMonitor()(_batch(make_batch, ["only"] * 40), MonitorContext())
    assert res.metrics["top_share"] == 1.0 and res.alerts == []


def test_labeller_callable_and_label_sanitising(make_batch) -> None:
    cfg = FormatsConfig(labeller=lambda text: "long form" if " 1/" in text else "short/form")
    res = FormatsMonitor(cfg)(make_batch(np.zeros((2, 4))), MonitorContext())
    # completions are "completion {i}/{j}": group 1 -> "long form"
    assert res.metrics["share/long_form"] == pytest.approx(0.5)
    assert res.metrics["share/short_form"] == pytest.approx(0.5)
    bad = FormatsMonitor(FormatsConfig(labeller=lambda text: 3))
    with pytest.raises(MonitorInputError, match="labeller"):
        bad(make_batch(np.zeros((1, 2))), MonitorContext())
    assert bad.state_dict() == {"seen": []}


def test_no_labels_means_no_metrics_and_too_many_labels_pool(make_batch) -> None:
    assert FormatsMonitor()(make_batch(np.zeros((1, 2))), MonitorContext()).metrics == {}
    mon = FormatsMonitor(FormatsConfig(max_labels=3))
    res = mon(_batch(make_batch, [f"f{i}" for i in range(10)]), MonitorContext())
    assert sorted(k for k in res.metrics if k.startswith("share/")) == [
        "share/f0", "share/f1", "share/other"]
    assert res.metrics["share/other"] == pytest.approx(0.8)
