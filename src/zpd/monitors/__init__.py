"""Training-health monitors: shortcuts, lost skills, format/diversity collapse, KL drift.

What it is: the ``RolloutBatch`` record, nine monitor families (``groups``, ``repetition``,
``skipping``, ``accidental``, ``kl``, ``formats``, ``diversity``, ``coupling``, ``retention``), the
``MonitorSuite`` that runs them and namespaces their metrics as ``health/<family>/<metric>``,
the ``DriftBudget`` the curriculum reads, logging sinks (JSONL, TensorBoard, MLflow, W&B) and the
run reader behind ``zpd watch``. What it is not: a trainer or a curriculum; it imports neither
the lab nor any host (numpy only; sinks import their clients lazily).

    from zpd.monitors import MonitorSuite, MonitorContext, RolloutBatch, open_sinks
    suite = MonitorSuite.default(open_sinks("runs/a"))
    batch = RolloutBatch.from_groups(ids, rewards, completions, answers, lengths)
    result = suite(batch, MonitorContext(step=t, curriculum=cur))   # before cur.update(...)
"""

from __future__ import annotations

from zpd.monitors.accidental import AccidentalConfig, AccidentalMonitor, grpo_advantages
from zpd.monitors.base import (
    Alert,
    Monitor,
    MonitorContext,
    MonitorResult,
    Severity,
    StatefulMonitor,
)
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.coupling import CouplingConfig, CouplingMonitor
from zpd.monitors.diversity import DiversityConfig, DiversityMonitor
from zpd.monitors.errors import MonitorInputError, SinkUnavailableError
from zpd.monitors.formats import FormatsConfig, FormatsMonitor
from zpd.monitors.groups import GroupsConfig, GroupsMonitor
from zpd.monitors.kl import DriftBudget, DriftBudgetConfig, KLMonitor, kl_estimates
from zpd.monitors.repetition import RepetitionConfig, RepetitionMonitor
from zpd.monitors.retention import RetentionConfig, RetentionMonitor
from zpd.monitors.runlog import RunHealth, format_run, read_run
from zpd.monitors.sinks import (
    METRICS_FILE,
    JsonlSink,
    MLflowSink,
    MultiSink,
    Sink,
    SinkKind,
    TensorBoardSink,
    WandbSink,
    available_sinks,
    open_sinks,
)
from zpd.monitors.skipping import SkippingConfig, SkippingMonitor
from zpd.monitors.suite import FAMILIES, HealthMonitor, MonitorSuite, SuiteResult

__all__ = [
    "FAMILIES", "METRICS_FILE",
    "AccidentalConfig", "AccidentalMonitor", "Alert", "CouplingConfig", "CouplingMonitor",
    "DiversityConfig", "DiversityMonitor", "DriftBudget", "DriftBudgetConfig", "FormatsConfig",
    "FormatsMonitor", "GroupsConfig", "GroupsMonitor", "HealthMonitor", "JsonlSink", "KLMonitor",
    "MLflowSink", "Monitor", "MonitorContext", "MonitorInputError", "MonitorResult",
    "MonitorSuite", "MultiSink", "RepetitionConfig", "RepetitionMonitor", "RetentionConfig",
    "RetentionMonitor", "RolloutBatch", "RunHealth", "Severity", "Sink", "SinkKind",
    "SinkUnavailableError", "SkippingConfig", "SkippingMonitor", "StatefulMonitor",
    "SuiteResult", "TensorBoardSink", "WandbSink", "available_sinks", "format_run",
    "grpo_advantages", "kl_estimates", "open_sinks", "read_run",
]
