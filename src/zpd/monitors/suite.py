"""The monitor suite: runs monitors on a batch, namespaces metrics, forwards them to sinks.

What it is: ``MonitorSuite`` (alias ``HealthMonitor``), which composes ``Monitor`` objects,
prefixes each one's metrics with ``health/<family>/``, collects alerts, logs the step to its sink
(with any extra metrics the caller adds, e.g. ``curriculum/…``), and saves/restores every stateful
monitor's state as JSON (no pickle, atomic write). ``MonitorSuite.default()`` builds all nine
families. What it is not: a trainer hook — call it once per step with the step's rollouts,
*before* ``curriculum.update`` so monitors see the posterior the batch was sampled under.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zpd.core.atomic import atomic_write_text, strict_dumps
from zpd.monitors.accidental import AccidentalConfig, AccidentalMonitor
from zpd.monitors.base import Alert, Monitor, MonitorContext, Severity
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.coupling import CouplingConfig, CouplingMonitor
from zpd.monitors.diversity import DiversityConfig, DiversityMonitor
from zpd.monitors.errors import MonitorInputError
from zpd.monitors.formats import FormatsConfig, FormatsMonitor
from zpd.monitors.groups import GroupsConfig, GroupsMonitor
from zpd.monitors.kl import DriftBudget, DriftBudgetConfig, KLMonitor
from zpd.monitors.repetition import RepetitionConfig, RepetitionMonitor
from zpd.monitors.retention import RetentionConfig, RetentionMonitor
from zpd.monitors.sinks import MultiSink, Sink, check_record
from zpd.monitors.skipping import SkippingConfig, SkippingMonitor

NAMESPACE = "health"
"""Prefix of every monitor metric: ``health/<family>/<metric>``."""

FAMILIES: tuple[str, ...] = (
    "groups", "repetition", "skipping", "accidental", "kl", "formats", "diversity", "coupling",
    "retention",
)
"""The built-in monitor families, in the order ``zpd watch`` prints them."""

_STATE_VERSION = 1


@dataclass(frozen=True)
class SuiteResult:
    """One step's output of the suite."""

    step: int
    """The step the batch belonged to."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Namespaced metrics ``health/<family>/<key>`` -> value."""
    alerts: list[Alert] = field(default_factory=list)
    """Every alert raised this step."""

    @property
    def worst(self) -> Severity | None:
        """Most severe alert of the step, or None."""
        return max((a.severity for a in self.alerts), key=lambda s: s.rank, default=None)


class MonitorSuite:
    """Runs monitors on each step's ``RolloutBatch`` and logs ``health/…`` metrics and alerts."""

    def __init__(self, monitors: Sequence[Monitor], sink: Sink | Sequence[Sink] | None = None):
        names = []
        for m in monitors:
            name = getattr(m, "name", None)
            if not isinstance(name, str) or not name or "/" in name or not callable(m):
                raise MonitorInputError(f"{m!r} is not a Monitor: it needs a `name` without '/' "
                                        "and __call__(batch, context)")
            names.append(name)
        if len(set(names)) != len(names):
            raise MonitorInputError(f"monitor names must be unique, got {names}")
        self.monitors: dict[str, Monitor] = dict(zip(names, monitors))
        if sink is None or isinstance(sink, (list, tuple)):
            self.sink: Sink | None = MultiSink(*sink) if sink else None
        else:
            self.sink = sink  # type: ignore[assignment]

    @classmethod
    def default(
        cls,
        sink: Sink | Sequence[Sink] | None = None,
        *,
        prior_skills: Any = None,
        format_labeller: Callable[[str], str] | None = None,
        drift_budget: DriftBudget | DriftBudgetConfig | None = None,
        steer_curriculum: bool = True,
    ) -> MonitorSuite:
        """All nine families with default settings (see each ``*Config`` for the thresholds).

        ``steer_curriculum=False`` keeps the suite a pure observer: the KL monitor still measures
        drift against its budget but does not push the pressure to the context's curriculum.
        """
        return cls(
            [
                GroupsMonitor(GroupsConfig()),
                RepetitionMonitor(RepetitionConfig()),
                SkippingMonitor(SkippingConfig()),
                AccidentalMonitor(AccidentalConfig()),
                KLMonitor(drift_budget, steer=steer_curriculum),
                FormatsMonitor(FormatsConfig(labeller=format_labeller)),
                DiversityMonitor(DiversityConfig()),
                CouplingMonitor(CouplingConfig()),
                RetentionMonitor(RetentionConfig(), prior_skills=prior_skills),
            ],
            sink,
        )

    def __getitem__(self, name: str) -> Monitor:
        return self.monitors[name]

    def __call__(
        self,
        batch: RolloutBatch,
        context: MonitorContext | None = None,
        *,
        step: int | None = None,
        extra: Mapping[str, float] | None = None,
    ) -> SuiteResult:
        """Run every monitor on ``batch``; log ``health/…`` metrics (+ ``extra``) and alerts.

        Give either ``context`` or ``step``. If a monitor raises, every monitor's state is
        restored to what it was before the call and nothing is logged.
        """
        if not isinstance(batch, RolloutBatch):
            raise MonitorInputError("MonitorSuite needs a zpd.monitors.RolloutBatch")
        if context is None:
            context = MonitorContext(step=0 if step is None else step)
        elif step is not None and step != context.step:
            raise MonitorInputError(f"step={step} disagrees with context.step={context.step}")
        extra_metrics = check_record(context.step, extra or {})
        snapshot = self.state_dict()
        metrics: dict[str, float] = {}
        alerts: list[Alert] = []
        try:
            for name, monitor in self.monitors.items():
                result = monitor(batch, context)
                metrics.update({f"{NAMESPACE}/{name}/{k}": float(v)
                                for k, v in result.metrics.items()})
                alerts.extend(result.alerts)
        except Exception:
            self.load_state_dict(snapshot)
            raise
        clash = set(metrics) & set(extra_metrics)
        if clash:
            self.load_state_dict(snapshot)
            raise MonitorInputError(f"extra metrics reuse health keys {sorted(clash)}")
        if self.sink is not None:
            self.sink.log(context.step, {**extra_metrics, **metrics}, alerts)
        return SuiteResult(context.step, metrics, alerts)

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Alert] = ()) -> None:
        """Log a step without a batch (e.g. evaluation metrics) to the suite's sink."""
        if self.sink is not None:
            self.sink.log(step, metrics, alerts)

    def close(self) -> None:
        """Close the sink."""
        if self.sink is not None:
            self.sink.close()

    def __enter__(self) -> MonitorSuite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state of every stateful monitor."""
        states = {name: m.state_dict() for name, m in self.monitors.items()
                  if hasattr(m, "state_dict")}
        return {"version": _STATE_VERSION, "monitors": json.loads(json.dumps(states))}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (all monitors or none)."""
        if not isinstance(state, Mapping) or state.get("version") != _STATE_VERSION:
            raise MonitorInputError(f"suite state must be a dict with version {_STATE_VERSION}")
        states = state.get("monitors")
        expected = {n for n, m in self.monitors.items() if hasattr(m, "load_state_dict")}
        if not isinstance(states, Mapping) or set(states) != expected:
            raise MonitorInputError(f"suite state has monitors {sorted(states or {})}; this suite "
                                    f"has stateful monitors {sorted(expected)}")
        backup = {n: self.monitors[n].state_dict() for n in expected}  # type: ignore[attr-defined]
        try:
            for n in expected:
                self.monitors[n].load_state_dict(states[n])  # type: ignore[attr-defined]
        except Exception:
            for n in expected:
                self.monitors[n].load_state_dict(backup[n])  # type: ignore[attr-defined]
            raise

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state as JSON atomically (temp file in the same dir, fsync, replace)."""
        atomic_write_text(Path(path), strict_dumps(self.state_dict()))

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore state written by :meth:`save`."""
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise MonitorInputError(f"cannot read monitor state {path}: {e}") from None
        self.load_state_dict(state)


HealthMonitor = MonitorSuite
"""Alias of :class:`MonitorSuite` (the name used in the design notes)."""

