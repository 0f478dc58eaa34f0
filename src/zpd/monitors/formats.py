"""Output-format shares and format entropy (monitor family ``formats``).

What it is: a stateful monitor of which output formats (direct answer, scratchpad, code, ...) the
policy uses. Echo Chamber (arXiv 2504.07912) shows RL post-training converges on one dominant
pretraining format within the first epoch and suppresses the others — and which one wins
depends on scale, not on which performs best. Labels come from ``batch.formats`` or from a
labeller callable ``f(completion) -> label``. The monitor remembers every label it has seen, so a
format that vanished reports share 0 instead of disappearing from the logs. Entropy is in nats;
``normalized_entropy`` divides by log(number of labels seen so far). What it is not: a format
classifier for any particular task (bring your labeller).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zpd.monitors.base import (
    Alert,
    MonitorContext,
    MonitorResult,
    Severity,
    check_fraction,
    check_positive_int,
    metric_label,
)
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.errors import MonitorInputError
from zpd.monitors.stats import entropy


@dataclass(frozen=True)
class FormatsConfig:
    """Settings of the ``formats`` monitor."""

    labeller: Callable[[str], str] | None = None
    """Maps a completion to a format label; used when the batch carries no ``formats``."""
    share_alert: float = 0.9
    """Warn when one format's share of the batch reaches this (format collapse); needs at least
    two formats seen in the run, so a task with a single format never alerts."""
    min_rollouts: int = 16
    """Alert only on batches with at least this many labelled rollouts."""
    max_labels: int = 32
    """Labels beyond this many distinct ones are pooled as ``other`` (bounded metric keys)."""

    def __post_init__(self) -> None:
        if self.labeller is not None and not callable(self.labeller):
            raise MonitorInputError("FormatsConfig.labeller must be a callable str -> str")
        check_fraction("FormatsConfig.share_alert", self.share_alert, open_low=True)
        check_positive_int("FormatsConfig.min_rollouts", self.min_rollouts)
        check_positive_int("FormatsConfig.max_labels", self.max_labels, 2)


class FormatsMonitor:
    """Per-format shares (``share/<label>``), ``entropy``, ``normalized_entropy``, ``top_share``.

    Also ``num_formats`` (labels present in this batch). Format collapse: arXiv 2504.07912.
    """

    name = "formats"

    def __init__(self, config: FormatsConfig | None = None) -> None:
        self.config = config or FormatsConfig()
        self._seen: list[str] = []  # metric-safe labels, in order first seen

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        labels = self._labels(batch)
        if labels is None:
            return MonitorResult()
        seen = list(self._seen)
        pooled = []
        for lab in labels:
            if lab not in seen and len(seen) >= self.config.max_labels - 1:
                lab = "other"
            if lab not in seen:
                seen.append(lab)
            pooled.append(lab)
        counts = Counter(pooled)
        n = len(pooled)
        metrics: dict[str, float] = {f"share/{lab}": counts.get(lab, 0) / n for lab in seen}
        top, top_n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        h = entropy(np.asarray(list(counts.values())))
        metrics.update(entropy=h, top_share=top_n / n, num_formats=float(len(counts)),
                       normalized_entropy=h / math.log(len(seen)) if len(seen) > 1 else 0.0)
        alerts = []
        cfg = self.config
        if n >= cfg.min_rollouts and top_n / n >= cfg.share_alert and len(seen) > 1:
            alerts.append(Alert(
                self.name, Severity.WARNING,
                f"format {top!r} takes {top_n / n:.0%} of rollouts ({len(seen)} formats seen in "
                "this run): format collapse. The surviving format need not be the best one; "
                "check per-format accuracy and consider format-balanced sampling.",
                context.step, top_n / n, cfg.share_alert, "top_share",
            ))
        self._seen = seen
        return MonitorResult(metrics, alerts)

    def _labels(self, batch: RolloutBatch) -> list[str] | None:
        if batch.formats is not None:
            raw = list(batch.formats)
        elif self.config.labeller is not None:
            raw = [self.config.labeller(c) for c in batch.completions]
            if not all(isinstance(x, str) for x in raw):
                raise MonitorInputError("the format labeller must return a str for every completion")
        else:
            return None
        return [metric_label(x) for x in raw]

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: labels seen so far."""
        return {"seen": list(self._seen)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        seen = state.get("seen") if isinstance(state, Mapping) else None
        if not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
            raise MonitorInputError("formats state is malformed: 'seen' must be a list of str")
        self._seen = list(seen)
