"""The ``retention`` monitor fed live from a run's held-out prior-skill evaluations.

What it is: :class:`EvalRetention`, which turns each periodic evaluation of the prior-skill sets
(skills the base had that RL never trains) into a batch for :class:`zpd.monitors.RetentionMonitor`
(arXiv 2605.28388: shortcuts learned on hard items contaminate prior skills). Each evaluation of
set ``s`` (``sizes[s]`` items, one sampled completion each) is one window of ``sizes[s]`` trials;
the first (step 0, the base) is the baseline. The monitor's test uses success counts only, and
``lab/eval/<s>/sampled`` x ``sizes[s]`` is that count exactly, so the result is what the monitor
would compute on the per-item rollouts. What it is not: an evaluator (:func:`zpd.lab.rl.evaluate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class EvalRetention:
    """``__call__(step, metrics)`` -> (``health/retention/...`` metrics, alerts) whenever
    ``metrics`` holds an evaluation of one of the sets; ({}, []) otherwise."""

    def __init__(self, sizes: Mapping[str, int], alpha: float = 0.05):
        from zpd.monitors import RetentionConfig, RetentionMonitor

        self.names = [s for s in sizes if sizes[s] > 0]
        self.sizes = {s: int(sizes[s]) for s in self.names}
        offsets = np.cumsum([0] + [self.sizes[s] for s in self.names])
        self.sets = {s: np.arange(offsets[k], offsets[k + 1]) for k, s in enumerate(self.names)}
        n = max(self.sizes.values(), default=1)
        self.monitor = RetentionMonitor(
            RetentionConfig(alpha=alpha, baseline_trials=n, window_trials=n,
                            track_anchors=False), prior_skills=self.sets)

    def __call__(self, step: int, metrics: Mapping[str, Any]) -> tuple[dict[str, float],
                                                                        list[Any]]:
        from zpd.monitors import MonitorContext, RolloutBatch

        have = [s for s in self.names if metrics.get(f"lab/eval/{s}/sampled") is not None]
        if not have:
            return {}, []
        ids = np.concatenate([self.sets[s] for s in have])  # (M,)
        ok = np.concatenate([
            np.arange(self.sizes[s]) < round(metrics[f"lab/eval/{s}/sampled"] * self.sizes[s])
            for s in have]).astype(np.float64)  # (M,) count-exact
        batch = RolloutBatch(item_ids=ids, group=np.arange(ids.size), rewards=ok,
                             completions=[""] * ids.size, answers=[None] * ids.size,
                             lengths=np.ones(ids.size, dtype=np.int64))
        res = self.monitor(batch, MonitorContext(step=int(step)))
        return ({f"health/retention/{k}": float(v) for k, v in res.metrics.items()},
                list(res.alerts))
