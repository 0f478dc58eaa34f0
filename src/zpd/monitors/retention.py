"""Retention of prior skills: accuracy on anchors and prior-skill sets, tested for drops (``retention``).

What it is: a stateful monitor of damage to what the model could already do. Training on overly
hard samples teaches shortcuts that contaminate pre-existing skills (Sample Difficulty in RLVR,
arXiv 2605.28388). The curriculum replays mastered *retention anchors* at a small rate
(``curriculum.anchor_ids``); the user may also name prior-skill item sets. For each set, the
first ``baseline_trials`` rollouts fix a baseline; later rollouts fill non-overlapping windows of
``window_trials``; each full window is tested against the baseline with a one-sided Fisher exact
test (is the window's success rate lower?). The significance level is family-wise: ``alpha`` is
split evenly over the sets (Bonferroni) and, within a set, the k-th look gets
alpha * 6 / (pi^2 k^2), which sums to alpha over any number of looks — so the chance of even one
false alert in a whole run stays below ``alpha``. What it is not: an evaluator — it reads the
rollouts it is given (training batches that contain anchors, or a batch built from an eval run).
"""

from __future__ import annotations

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
    metric_label,
)
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.errors import MonitorInputError
from zpd.monitors.stats import fisher_less, spent_alpha

ANCHORS = "anchors"
_FIELDS = ("base_s", "base_n", "win_s", "win_n", "looks")


@dataclass(frozen=True)
class RetentionConfig:
    """Settings of the ``retention`` monitor's drop test."""

    alpha: float = 0.05
    """Family-wise false-alert rate over all sets and all looks of a run."""
    success_threshold: float = 0.5
    """A rollout is correct when its reward is >= this."""
    baseline_trials: int = 64
    """Rollouts of a set, from the start of the run, that form its baseline accuracy."""
    window_trials: int = 64
    """Rollouts per tested window after the baseline (windows do not overlap)."""
    track_anchors: bool = True
    """Test the curriculum's retention anchors (``context.anchor_ids`` / ``curriculum.anchor_ids``)."""

    def __post_init__(self) -> None:
        check_fraction("RetentionConfig.alpha", self.alpha, open_low=True)
        check_fraction("RetentionConfig.success_threshold", self.success_threshold, open_low=True)
        check_positive_int("RetentionConfig.baseline_trials", self.baseline_trials)
        check_positive_int("RetentionConfig.window_trials", self.window_trials)
        if not isinstance(self.track_anchors, bool):
            raise MonitorInputError("RetentionConfig.track_anchors must be a bool")


class RetentionMonitor:
    """Accuracy on retention anchors and prior-skill sets; critical alert on a significant drop.

    ``prior_skills``: item ids (one set named ``prior``) or ``{name: ids}``. Metrics per set
    ``<set>/accuracy`` (this batch), ``<set>/baseline_accuracy``, and at each test
    ``<set>/window_accuracy``, ``<set>/drop``, ``<set>/pvalue``, ``<set>/alpha``.
    Contamination of prior skills: arXiv 2605.28388.
    """

    name = "retention"

    def __init__(self, config: RetentionConfig | None = None,
                 prior_skills: Any = None) -> None:
        self.config = config or RetentionConfig()
        self._sets = _parse_sets(prior_skills)
        names = ([ANCHORS] if self.config.track_anchors else []) + list(self._sets)
        if not names:
            raise MonitorInputError("RetentionMonitor has nothing to watch: enable track_anchors "
                                    "or pass prior_skills")
        self._state = {n: dict.fromkeys(_FIELDS, 0) for n in names}

    @property
    def set_names(self) -> list[str]:
        """Names of the watched sets (``anchors`` first when tracked)."""
        return list(self._state)

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        ok = batch.successes(self.config.success_threshold)  # (N,)
        anchors = context.anchors() if self.config.track_anchors else None
        new_state = {k: dict(v) for k, v in self._state.items()}
        metrics: dict[str, float] = {}
        alerts: list[Alert] = []
        for name, st in new_state.items():
            ids = anchors if name == ANCHORS else self._sets[name]
            if ids is None or ids.size == 0:
                continue
            rows = np.isin(batch.item_ids, ids)
            s, n = int(ok[rows].sum()), int(rows.sum())
            if n:
                metrics[f"{name}/accuracy"] = s / n
                self._observe(name, st, s, n, context.step, metrics, alerts)
            if st["base_n"] >= self.config.baseline_trials:
                metrics[f"{name}/baseline_accuracy"] = st["base_s"] / st["base_n"]
        self._state = new_state
        return MonitorResult(metrics, alerts)

    def _observe(self, name: str, st: dict[str, int], s: int, n: int, step: int,
                 metrics: dict[str, float], alerts: list[Alert]) -> None:
        cfg = self.config
        if st["base_n"] < cfg.baseline_trials:
            st["base_s"] += s
            st["base_n"] += n
            return
        st["win_s"] += s
        st["win_n"] += n
        if st["win_n"] < cfg.window_trials:
            return
        st["looks"] += 1
        p = fisher_less(st["win_s"], st["win_n"], st["base_s"], st["base_n"])
        level = spent_alpha(cfg.alpha / len(self._state), st["looks"])
        base_acc, win_acc = st["base_s"] / st["base_n"], st["win_s"] / st["win_n"]
        metrics.update({f"{name}/window_accuracy": win_acc, f"{name}/drop": base_acc - win_acc,
                        f"{name}/pvalue": p, f"{name}/alpha": level})
        if p < level:
            alerts.append(Alert(
                self.name, Severity.CRITICAL,
                f"accuracy on {name} fell from {base_acc:.1%} (baseline, {st['base_n']} rollouts) "
                f"to {win_acc:.1%} ({st['win_n']} rollouts; Fisher p={p:.1e} < {level:.1e}): "
                "prior skills are being lost. Look for shortcuts (repetition, skipping, accidental "
                "monitors) and ease off near-impossible items.",
                step, win_acc, base_acc, f"{name}/window_accuracy",
            ))
        st["win_s"] = st["win_n"] = 0

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: per-set baseline and window counts and the number of looks."""
        return {"sets": {k: dict(v) for k, v in self._state.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the watched sets must match."""
        try:
            sets = {k: {f: int(v[f]) for f in _FIELDS} for k, v in state["sets"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise MonitorInputError(f"retention state is malformed ({e})") from None
        if set(sets) != set(self._state):
            raise MonitorInputError(f"retention state watches {sorted(sets)}; this monitor "
                                    f"watches {sorted(self._state)}")
        self._state = sets


def _parse_sets(prior_skills: Any) -> dict[str, np.ndarray]:
    if prior_skills is None:
        return {}
    raw = prior_skills if isinstance(prior_skills, Mapping) else {"prior": prior_skills}
    out: dict[str, np.ndarray] = {}
    for key, ids in raw.items():
        name = metric_label(key)
        if name == ANCHORS or name in out:
            raise MonitorInputError(f"prior-skill set name {key!r} is reserved or duplicated")
        arr = np.asarray(ids).reshape(-1)
        if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
            raise MonitorInputError(f"prior-skill set {key!r} must be a non-empty int id array")
        out[name] = np.unique(arr.astype(np.int64))
    return out

