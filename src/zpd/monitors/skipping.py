"""Computation skipping: correct answers with traces far shorter than usual (family ``skipping``).

What it is: a stateful shortcut detector. Sample Difficulty in RLVR (arXiv 2605.28388) reports
that rewarding lucky successes on overly hard prompts teaches the policy to skip computation and
emit an answer directly; such rollouts are still marked correct, so reward curves hide them. The
monitor keeps, per item, a slowly updated reference of its successful trace length (geometric
mean over up to ``reference_window`` earlier successes) and flags a correct rollout whose length is
below ``short_ratio`` times that reference. It reports the share of such rollouts among correct
rollouts with a reference, and the least-squares trend of that share over the last steps.
What it is not: a length penalty, and it says nothing about items with no earlier successes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
)
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.errors import MonitorInputError
from zpd.monitors.stats import ols_slope


@dataclass(frozen=True)
class SkippingConfig:
    """Settings of the ``skipping`` monitor."""

    success_threshold: float = 0.5
    """A rollout is correct when its reward is >= this."""
    short_ratio: float = 0.5
    """A correct trace shorter than this times the item's reference length counts as skipped."""
    min_history: int = 2
    """Earlier successful rollouts an item needs before its reference is trusted."""
    reference_window: int = 64
    """The reference is a running mean of log length with weight 1/min(count, this)."""
    share_alert: float = 0.2
    """Warn when the skipped share of correct rollouts (with a reference) reaches this."""
    min_rollouts: int = 10
    """Alert only when at least this many correct rollouts have a reference."""
    trend_window: int = 20
    """Steps over which the trend (least-squares slope) of the skipped share is fitted."""
    trend_alert: float = 0.1
    """Info alert when the fitted rise over the trend window reaches this (share points)."""

    def __post_init__(self) -> None:
        check_fraction("SkippingConfig.success_threshold", self.success_threshold, open_low=True)
        check_fraction("SkippingConfig.short_ratio", self.short_ratio, open_low=True)
        check_fraction("SkippingConfig.share_alert", self.share_alert, open_low=True)
        check_fraction("SkippingConfig.trend_alert", self.trend_alert, open_low=True)
        check_positive_int("SkippingConfig.min_history", self.min_history)
        check_positive_int("SkippingConfig.reference_window", self.reference_window)
        check_positive_int("SkippingConfig.min_rollouts", self.min_rollouts)
        check_positive_int("SkippingConfig.trend_window", self.trend_window, 3)


class SkippingMonitor:
    """Share of correct rollouts whose trace is far shorter than the item's usual success.

    Metrics: ``skip_share``, ``eligible`` (correct rollouts with a reference), ``length_ratio_median``
    (median of length / reference over them), ``skip_share_trend`` (slope per step over the last
    ``trend_window`` steps). Computation skipping as a shortcut: arXiv 2605.28388.
    """

    name = "skipping"

    def __init__(self, config: SkippingConfig | None = None) -> None:
        self.config = config or SkippingConfig()
        # Keyed by (item, format label): a scratchpad answer and a direct answer to the same item
        # have different honest lengths, so a legitimate format switch is not "skipping".
        self._count: dict[tuple[int, str], int] = {}  # successful rollouts seen
        self._mean_log: dict[tuple[int, str], float] = {}  # running mean of log(length)
        self._history: list[float] = []  # skip share per step (last trend_window)

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        cfg = self.config
        ok = batch.successes(cfg.success_threshold)  # (N,)
        log_len = np.log(np.maximum(batch.lengths, 1).astype(np.float64))  # (N,)
        items = _keys(batch)
        ratios = [math.exp(log_len[r] - self._mean_log[items[r]]) for r in np.flatnonzero(ok)
                  if self._count.get(items[r], 0) >= cfg.min_history]
        metrics: dict[str, float] = {"eligible": float(len(ratios))}
        alerts: list[Alert] = []
        history = self._history
        if ratios:
            arr = np.asarray(ratios)
            share = float(np.mean(arr < cfg.short_ratio))
            metrics.update(skip_share=share, length_ratio_median=float(np.median(arr)))
            history = (self._history + [share])[-cfg.trend_window:]
            if share >= cfg.share_alert and len(ratios) >= cfg.min_rollouts:
                alerts.append(Alert(
                    self.name, Severity.WARNING,
                    f"{share:.0%} of correct rollouts are under {cfg.short_ratio:.0%} of their "
                    "item's usual successful length: the policy may be skipping computation "
                    "(answering without the work). Inspect those traces; drop near-impossible "
                    "items from the mix.",
                    context.step, share, cfg.share_alert, "skip_share",
                ))
        if len(history) >= 3:
            slope = ols_slope(np.asarray(history))
            metrics["skip_share_trend"] = slope
            rise = slope * (len(history) - 1)
            if len(history) >= 5 and rise >= cfg.trend_alert:
                alerts.append(Alert(
                    self.name, Severity.INFO,
                    f"the skipped-computation share rose by {rise:.0%} over the last "
                    f"{len(history)} steps.",
                    context.step, rise, cfg.trend_alert, "skip_share_trend",
                ))
        self._history = history
        self._update_reference(items, log_len, ok)
        return MonitorResult(metrics, alerts)

    def _update_reference(self, items: list[tuple[int, str]], log_len: np.ndarray, ok: np.ndarray) -> None:
        for r in np.flatnonzero(ok):
            i = items[r]
            c = self._count.get(i, 0) + 1
            m = self._mean_log.get(i, 0.0)
            self._count[i] = c
            self._mean_log[i] = m + (float(log_len[r]) - m) / min(c, self.config.reference_window)

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: per-(item, format) counts and reference log-lengths, share history."""
        ids = sorted(self._count)
        return {
            "item_ids": [i for i, _ in ids],
            "formats": [f for _, f in ids],
            "counts": [self._count[i] for i in ids],
            "mean_log_length": [self._mean_log[i] for i in ids],
            "history": list(self._history),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; raises ``MonitorInputError`` if malformed."""
        try:
            ids = [int(i) for i in state["item_ids"]]
            fmts = [str(f) for f in state.get("formats", [""] * len(ids))]
            counts = [int(c) for c in state["counts"]]
            means = [float(m) for m in state["mean_log_length"]]
            history = [float(h) for h in state["history"]]
        except (KeyError, TypeError, ValueError) as e:
            raise MonitorInputError(f"skipping state is malformed ({e})") from None
        if not (len(ids) == len(fmts) == len(counts) == len(means)):
            raise MonitorInputError(
                "skipping state: item_ids/formats/counts/mean_log_length differ in length")
        keys = list(zip(ids, fmts))
        self._count = dict(zip(keys, counts))
        self._mean_log = dict(zip(keys, means))
        self._history = history


def _keys(batch: RolloutBatch) -> list[tuple[int, str]]:
    """One reference key per rollout: (item id, format label, or "" when the batch has none)."""
    formats = batch.formats if batch.formats is not None else [""] * len(batch.item_ids)
    return [(int(i), str(f)) for i, f in zip(batch.item_ids.tolist(), formats)]
