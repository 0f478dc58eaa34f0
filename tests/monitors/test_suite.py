"""MonitorSuite: namespacing, sinks, all-or-nothing state on errors, exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zpd.monitors import (
    FAMILIES,
    AccidentalMonitor,
    GroupsMonitor,
    JsonlSink,
    MonitorContext,
    MonitorInputError,
    MonitorSuite,
    SkippingMonitor,
)


def test_default_suite_namespaces_every_family(tmp_path, synthetic) -> None:
    suite = MonitorSuite.default(prior_skills=np.arange(8))
    assert tuple(suite.monitors) == FAMILIES
    res = suite(synthetic(np.random.default_rng(0), 0, faults=False), step=0)
    assert all(k.startswith("health/") for k in res.metrics)
    assert {k.split("/")[1] for k in res.metrics} == set(FAMILIES)
    assert res.metrics["health/retention/prior/accuracy"] == pytest.approx(0.9, abs=0.15)


def test_suite_logs_health_and_extra_metrics_to_its_sink(tmp_path, synthetic) -> None:
    suite = MonitorSuite([GroupsMonitor()], JsonlSink(tmp_path))
    batch = synthetic(np.random.default_rng(1), 3, faults=False)
    res = suite(batch, MonitorContext(step=3), extra={"curriculum/zero_var": 0.25})
    suite.close()
    (line,) = (tmp_path / "metrics.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["step"] == 3
    assert record["metrics"]["curriculum/zero_var"] == 0.25
    assert record["metrics"]["health/groups/mean_reward"] == pytest.approx(
        res.metrics["health/groups/mean_reward"])


def test_bad_monitor_sets_are_rejected() -> None:
    with pytest.raises(MonitorInputError, match="unique"):
        MonitorSuite([GroupsMonitor(), GroupsMonitor()])
    with pytest.raises(MonitorInputError, match="not a Monitor"):
        MonitorSuite([object()])


def test_a_failing_monitor_leaves_every_state_unchanged_and_logs_nothing(tmp_path, synthetic) -> None:
    suite = MonitorSuite([SkippingMonitor(), AccidentalMonitor()], JsonlSink(tmp_path))
    rng = np.random.default_rng(2)
    suite(synthetic(rng, 0, faults=False), step=0)
    before = suite.state_dict()
    bad = MonitorContext(step=1, pass_rate=np.zeros(3))  # too short for the item ids
    with pytest.raises(MonitorInputError):
        suite(synthetic(rng, 1, faults=False), bad)
    assert suite.state_dict() == before
    with pytest.raises(MonitorInputError, match="reuse health keys"):
        suite(synthetic(rng, 1, faults=False), step=1,
              extra={"health/skipping/eligible": 1.0})
    assert suite.state_dict() == before
    suite.close()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_save_and_load_resume_exactly(tmp_path, synthetic) -> None:
    rng = np.random.default_rng(3)
    batches = [synthetic(rng, t, faults=t >= 4) for t in range(8)]
    a = MonitorSuite.default(prior_skills=np.arange(8))
    for t in range(5):
        a(batches[t], step=t)
    a.save(tmp_path / "monitors.json")
    b = MonitorSuite.default(prior_skills=np.arange(8))
    b.load(tmp_path / "monitors.json")
    for t in range(5, 8):
        ra, rb = a(batches[t], step=t), b(batches[t], step=t)
        assert ra.metrics == rb.metrics
        assert [x.to_dict() for x in ra.alerts] == [x.to_dict() for x in rb.alerts]
    with pytest.raises(MonitorInputError, match="stateful monitors"):
        MonitorSuite([SkippingMonitor()]).load(tmp_path / "monitors.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(MonitorInputError, match="cannot read"):
        b.load(tmp_path / "broken.json")


def test_step_and_context_must_agree(synthetic) -> None:
    suite = MonitorSuite([GroupsMonitor()])
    batch = synthetic(np.random.default_rng(4), 0, faults=False)
    with pytest.raises(MonitorInputError, match="disagrees"):
        suite(batch, MonitorContext(step=2), step=3)
    with pytest.raises(MonitorInputError, match="step"):
        MonitorContext(step=-1)
