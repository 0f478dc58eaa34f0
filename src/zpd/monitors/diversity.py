"""Token entropy and answer diversity on unsolved items (monitor family ``diversity``).

What it is: a stateful monitor of exploration. RL with verifiable rewards sharpens the policy
and collapses its entropy; the diversity loss does not stay on solved problems but spreads to
unsolved ones, where the model then keeps giving the same wrong answer (arXiv 2507.14783 and
related). It reports the mean per-token entropy (exact when the batch carries ``token_entropy``,
else the Monte Carlo estimate -mean log p(sampled token), unbiased for samples drawn at
temperature 1) and, for groups with no correct rollout ("unsolved"), the number of distinct final
answers per rollout. Baselines are the means over the first ``baseline_steps`` steps that had
data; alerts fire on a relative drop below them. What it is not: an entropy bonus.
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

_TRACKED = ("token_entropy", "distinct_answers_unsolved")


@dataclass(frozen=True)
class DiversityConfig:
    """Settings of the ``diversity`` monitor."""

    success_threshold: float = 0.5
    """A rollout is correct when its reward is >= this; groups with none are unsolved."""
    baseline_steps: int = 5
    """Steps (with data) averaged into each baseline at the start of the run."""
    entropy_drop: float = 0.5
    """Warn when token entropy falls below (1 - this) x its baseline (entropy collapse)."""
    distinct_drop: float = 0.4
    """Warn when distinct answers on unsolved groups fall below (1 - this) x its baseline."""
    min_groups: int = 4
    """The unsolved-diversity alert needs at least this many unsolved groups in the batch."""

    def __post_init__(self) -> None:
        check_fraction("DiversityConfig.success_threshold", self.success_threshold, open_low=True)
        check_fraction("DiversityConfig.entropy_drop", self.entropy_drop, open_low=True)
        check_fraction("DiversityConfig.distinct_drop", self.distinct_drop, open_low=True)
        check_positive_int("DiversityConfig.baseline_steps", self.baseline_steps)
        check_positive_int("DiversityConfig.min_groups", self.min_groups)


class DiversityMonitor:
    """Token entropy and distinct final answers per group on solved and unsolved groups.

    Metrics: ``token_entropy``, ``entropy_is_estimate`` (1 when estimated from log-probs),
    ``distinct_answers_unsolved``, ``distinct_answers_solved`` (distinct answers / group size,
    a missing answer counts as one value), ``unsolved_groups``, and ``<metric>_vs_baseline``
    ratios once baselines exist. Entropy and diversity collapse: arXiv 2507.14783.
    """

    name = "diversity"

    def __init__(self, config: DiversityConfig | None = None) -> None:
        self.config = config or DiversityConfig()
        self._sums = dict.fromkeys(_TRACKED, 0.0)
        self._counts = dict.fromkeys(_TRACKED, 0)

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        metrics = _entropy_metrics(batch)
        unsolved, ratio = _distinct_ratios(batch, self.config.success_threshold)  # (B,), (B,)
        metrics["unsolved_groups"] = float(unsolved.sum())
        if unsolved.any():
            metrics["distinct_answers_unsolved"] = float(ratio[unsolved].mean())
        if (~unsolved).any():
            metrics["distinct_answers_solved"] = float(ratio[~unsolved].mean())
        alerts = self._compare(metrics, context.step)
        for key in _TRACKED:
            if key in metrics and self._counts[key] < self.config.baseline_steps:
                self._sums[key] += metrics[key]
                self._counts[key] += 1
        return MonitorResult(metrics, alerts)

    def baseline(self, key: str) -> float:
        """Baseline of a tracked metric, NaN until ``baseline_steps`` steps have been seen."""
        if self._counts[key] < self.config.baseline_steps:
            return math.nan
        return self._sums[key] / self._counts[key]

    def _compare(self, metrics: dict[str, float], step: int) -> list[Alert]:
        cfg, alerts = self.config, []
        drops = {"token_entropy": cfg.entropy_drop, "distinct_answers_unsolved": cfg.distinct_drop}
        for key, drop in drops.items():
            base = self.baseline(key)
            if key not in metrics or not math.isfinite(base) or base <= 0:
                continue
            ratio = metrics[key] / base
            metrics[f"{key}_vs_baseline"] = ratio
            if key == "distinct_answers_unsolved" and metrics["unsolved_groups"] < cfg.min_groups:
                continue
            if ratio < 1 - drop:
                what = ("token entropy collapsed" if key == "token_entropy" else
                        "unsolved items now get the same answer across samples")
                alerts.append(Alert(
                    self.name, Severity.WARNING,
                    f"{what}: {key} is {ratio:.0%} of its early-run baseline ({base:.3g}). "
                    "Exploration is dying; consider a higher temperature, entropy-preserving "
                    "clipping, or easing off prompts far beyond the model.",
                    step, ratio, 1 - drop, f"{key}_vs_baseline",
                ))
        return alerts

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: baseline sums and counts."""
        return {"sums": dict(self._sums), "counts": dict(self._counts)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        try:
            sums = {k: float(state["sums"][k]) for k in _TRACKED}
            counts = {k: int(state["counts"][k]) for k in _TRACKED}
        except (KeyError, TypeError, ValueError) as e:
            raise MonitorInputError(f"diversity state is malformed ({e})") from None
        self._sums, self._counts = sums, counts


def _entropy_metrics(batch: RolloutBatch) -> dict[str, float]:
    mask = batch.token_mask
    if mask is None or not mask.any():
        return {}
    if batch.token_entropy is not None:
        return {"token_entropy": float(batch.token_entropy[mask].mean()),
                "entropy_is_estimate": 0.0}
    if batch.logprobs is not None:
        return {"token_entropy": float(-batch.logprobs[mask].mean()), "entropy_is_estimate": 1.0}
    return {}


def _distinct_ratios(batch: RolloutBatch, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(B,) unsolved flag and (B,) distinct answers / group size."""
    ok = batch.successes(threshold).astype(np.float64)
    unsolved = np.bincount(batch.group_codes, weights=ok, minlength=batch.num_groups) == 0
    answers: list[set[str | None]] = [set() for _ in range(batch.num_groups)]
    for code, ans in zip(batch.group_codes.tolist(), batch.answers):
        answers[code].add(None if ans is None else ans.strip())
    distinct = np.array([len(s) for s in answers], dtype=np.float64)
    return unsolved, distinct / batch.group_sizes
