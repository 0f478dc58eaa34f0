"""``curriculum/...`` metrics of one batch whose rewards reached the curriculum.

What it is: a pure function from (curriculum, the draw, the rewarded ids, rewards, the posterior
estimate before the update) to ``dict[str, float]``, shared by the TRL, verl and Ray shims so that
each host logs the same names. What it is not: a training-health monitor (``zpd.monitors``) or a
logging sink (each host logs through its own channel).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zpd.integrations._ledger import Draw


def reward_metrics(curriculum: Any, group_mean: np.ndarray, mixed: np.ndarray,
                   predicted: np.ndarray) -> dict[str, float]:
    """Metrics of rewarded groups that need no draw: ``group_mean`` (n,) each group's mean
    reward, ``mixed`` (n,) whether it had reward variance (informative), ``predicted`` (n,)
    posterior mean pass rate before the update; plus the curriculum's coverage and quarantine.
    Groups may differ in size (the caller reduces each to these numbers)."""
    n = int(group_mean.size)
    n_items = int(curriculum.num_items)
    quarantined = np.asarray(curriculum.quarantined(np.arange(n_items, dtype=np.int64)))
    coverage = curriculum.coverage() if hasattr(curriculum, "coverage") else {}
    return {
        **coverage,
        "curriculum/batch_pass_rate": float(group_mean.mean()) if n else float("nan"),
        "curriculum/informative_share": float(np.mean(mixed)) if n else float("nan"),
        "curriculum/predicted_pass_rate": float(predicted.mean()) if n else float("nan"),
        "curriculum/prediction_abs_error": (
            float(np.abs(predicted - group_mean).mean()) if n else float("nan")
        ),
        "curriculum/quarantined_share": float(quarantined.mean()) if n_items else 0.0,
    }


def batch_metrics(
    curriculum: Any,
    draw: Draw,
    ids: np.ndarray,
    rewards: np.ndarray,
    predicted: np.ndarray,
) -> dict[str, float]:
    """Metrics of one rewarded batch.

    ``ids`` (n,) int64, ``rewards`` (n, G) in [0, 1], ``predicted`` (n,) posterior mean pass rate
    of each id before this batch's update.
    """
    from zpd.core.advantage import informative

    mixed = informative(rewards) if ids.size else np.zeros(0, dtype=bool)  # (n,)
    return {
        **reward_metrics(curriculum, rewards.mean(axis=1), mixed, predicted),
        "curriculum/anchor_share": float(draw.anchors.size / max(draw.ids.size, 1)),
        "curriculum/staleness": float(draw.staleness),
        "curriculum/dropped_groups": float(draw.ids.size - ids.size),
    }
