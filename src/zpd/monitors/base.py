"""Shared vocabulary of the monitors: alerts, results, the per-step context and the Monitor protocol.

What it is: the small records every monitor returns or reads (``Alert``, ``MonitorResult``,
``MonitorContext``), the ``Monitor`` / ``StatefulMonitor`` protocols, and the resolution of
per-item side information (posterior pass rate, difficulty, distance) from arrays, callables or a
curriculum object. What it is not: any monitor's logic, nor a dependency on the lab or a host —
the curriculum is duck-typed (``estimate(ids).mean``, ``anchor_ids``, ``set_drift_pressure``).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from zpd.monitors.batch import RolloutBatch
from zpd.monitors.errors import MonitorInputError

ItemValues = Callable[[np.ndarray], Any] | np.ndarray
"""Per-item side information: an array indexed by item id (num_items,), or ``f(ids) -> (len(ids),)``."""


class Severity(str, enum.Enum):
    """How loud an alert is. ``info``: worth a look; ``warning``: act soon; ``critical``: act now."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @classmethod
    def parse(cls, value: Severity | str) -> Severity:
        """Parse a severity given as an enum member or its string value."""
        try:
            return cls(value)
        except ValueError:
            choices = [s.value for s in cls]
            raise MonitorInputError(f"severity={value!r}: choose one of {choices}") from None

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical (to pick the worst of several)."""
        return list(Severity).index(self)


@dataclass(frozen=True)
class Alert:
    """One alert raised by a monitor at one step."""

    monitor: str
    """Family name of the monitor that raised it (e.g. ``repetition``)."""
    severity: Severity
    """How loud it is (a ``Severity`` or its string value)."""
    message: str
    """What was seen and what to do, in one or two sentences."""
    step: int
    """Training step at which it was raised."""
    value: float
    """The observed value of the metric that triggered it."""
    threshold: float
    """The threshold (or significance level) the value was compared against."""
    metric: str = ""
    """Key of the triggering metric inside the monitor's namespace (e.g. ``top_answer_share``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity.parse(self.severity))
        if not isinstance(self.step, (int, np.integer)) or isinstance(self.step, bool):
            raise MonitorInputError(f"Alert.step={self.step!r}: pass an int step")
        object.__setattr__(self, "step", int(self.step))
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "threshold", float(self.threshold))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite floats become ``None``)."""
        return {
            "monitor": self.monitor,
            "severity": self.severity.value,
            "message": self.message,
            "step": self.step,
            "value": finite_or_none(self.value),
            "threshold": finite_or_none(self.threshold),
            "metric": self.metric,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        """Inverse of :meth:`to_dict`; raises ``MonitorInputError`` on a malformed record."""
        try:
            return cls(
                monitor=str(d["monitor"]),
                severity=d["severity"],
                message=str(d.get("message", "")),
                step=int(d["step"]),
                value=math.nan if d.get("value") is None else float(d["value"]),
                threshold=math.nan if d.get("threshold") is None else float(d["threshold"]),
                metric=str(d.get("metric", "")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise MonitorInputError(
                f"alert record {dict(d)!r} is malformed ({e}); it needs monitor, severity, step"
            ) from None


@dataclass(frozen=True)
class MonitorResult:
    """What one monitor returns for one batch: metrics (un-namespaced keys) and alerts."""

    metrics: dict[str, float] = field(default_factory=dict)
    """Metric name (inside the monitor's namespace) -> value."""
    alerts: list[Alert] = field(default_factory=list)
    """Alerts raised on this batch."""


@dataclass(frozen=True)
class MonitorContext:
    """What a monitor may know besides the batch: the step and optional curriculum estimates.

    Per-item values are arrays indexed by item id or callables ``f(ids) -> values``. Pass the
    posterior *before* this batch's ``curriculum.update`` (monitors judge the rollouts against
    what was believed when they were sampled). ``curriculum`` may be any object with
    ``estimate(ids).mean`` / ``anchor_ids`` / ``set_drift_pressure(x)``; explicit fields win.
    """

    step: int = 0
    """Training step of the batch (non-negative int)."""
    pass_rate: ItemValues | None = None
    """Posterior mean pass rate per item, in [0, 1]."""
    difficulty: ItemValues | None = None
    """Estimated difficulty per item (any monotone scale); default ``1 - pass_rate``."""
    distance: ItemValues | None = None
    """Distance of each item from the base/pre-training distribution (e.g. base-model NLL)."""
    in_distribution: ItemValues | None = None
    """Bool per item: in-distribution (wins over ``distance`` for the coupling split)."""
    anchor_ids: np.ndarray | None = None
    """Ids of the retention anchors in this batch (default: ``curriculum.anchor_ids``)."""
    curriculum: Any = None
    """Optional curriculum object (duck-typed; see the class docstring)."""

    def __post_init__(self) -> None:
        if not isinstance(self.step, (int, np.integer)) or isinstance(self.step, bool):
            raise MonitorInputError(f"MonitorContext.step={self.step!r}: pass an int")
        if self.step < 0:
            raise MonitorInputError(f"MonitorContext.step={self.step}: steps start at 0")
        object.__setattr__(self, "step", int(self.step))

    def pass_rates(self, ids: np.ndarray) -> np.ndarray | None:
        """Posterior pass rate of ``ids`` (len(ids),) in [0, 1], or None when unknown."""
        if self.pass_rate is not None:
            p = resolve_item_values(self.pass_rate, ids, "pass_rate")
        elif self.curriculum is not None and hasattr(self.curriculum, "estimate"):
            est = self.curriculum.estimate(np.asarray(ids, dtype=np.int64))
            p = _as_float(getattr(est, "mean", est), len(ids), "curriculum.estimate(ids).mean")
        else:
            return None
        if np.any((p < 0) | (p > 1)):
            raise MonitorInputError("pass rates must lie in [0, 1]; pass posterior means")
        return p

    def difficulties(self, ids: np.ndarray) -> np.ndarray | None:
        """Difficulty of ``ids`` (len(ids),): explicit, else ``1 - pass rate``, else None."""
        if self.difficulty is not None:
            return resolve_item_values(self.difficulty, ids, "difficulty")
        p = self.pass_rates(ids)
        return None if p is None else 1.0 - p

    def anchors(self) -> np.ndarray | None:
        """Retention-anchor ids (int64) from this context or its curriculum, or None."""
        ids = self.anchor_ids
        if ids is None and self.curriculum is not None:
            ids = getattr(self.curriculum, "anchor_ids", None)
        if ids is None:
            return None
        arr = np.asarray(ids)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise MonitorInputError("anchor_ids must be integer item ids")
        return arr.astype(np.int64).reshape(-1)


@runtime_checkable
class Monitor(Protocol):
    """A training-health monitor: a named map from a rollout batch to metrics and alerts."""

    @property
    def name(self) -> str:
        """Family name; its metrics are logged under ``health/<name>/...``."""
        ...

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult: ...


@runtime_checkable
class StatefulMonitor(Monitor, Protocol):
    """A monitor that keeps small numpy/JSON state across steps (trends, baselines, totals)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (lists, floats, ints, strings)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def resolve_item_values(values: ItemValues, ids: np.ndarray, name: str) -> np.ndarray:
    """Look up per-item values for ``ids``: float array (len(ids),)."""
    ids = np.asarray(ids, dtype=np.int64)
    if callable(values):
        return _as_float(values(ids), len(ids), f"{name}(ids)")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MonitorInputError(f"{name} must be a 1-D array indexed by item id, got {arr.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= arr.shape[0]):
        raise MonitorInputError(
            f"{name} has {arr.shape[0]} entries but the batch has item id {int(ids.max())}; "
            "pass an array covering every item id, or a callable"
        )
    return _as_float(arr[ids], len(ids), name)


def _as_float(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise MonitorInputError(f"{name} returned shape {arr.shape}; expected ({n},)")
    if not np.all(np.isfinite(arr)):
        raise MonitorInputError(f"{name} has non-finite values; pass finite numbers")
    return arr


def finite_or_none(x: float) -> float | None:
    """``x`` as a float, or None when it is NaN/inf (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


_LABEL_RE = re.compile(r"[^A-Za-z0-9_.\-]+")


def metric_label(label: str) -> str:
    """A user label (format name, set name) made safe as a metric-key segment."""
    out = _LABEL_RE.sub("_", str(label)).strip("_")
    return out or "_"


def check_fraction(name: str, value: float, *, open_low: bool = False) -> None:
    """Raise unless ``value`` is a finite number in [0, 1] (or (0, 1] with ``open_low``)."""
    ok = isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1
    if not ok or (open_low and value == 0):
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise MonitorInputError(f"{name}={value!r}: must be a number in {interval}")


def check_positive_int(name: str, value: int, minimum: int = 1) -> None:
    """Raise unless ``value`` is an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise MonitorInputError(f"{name}={value!r}: must be an int >= {minimum}")
