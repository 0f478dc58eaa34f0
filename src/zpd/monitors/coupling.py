"""Length-vs-difficulty coupling, split by distance from the training distribution (``coupling``).

What it is: a stateless diagnostic. Controlled experiments (arXiv 2509.07339) show reasoning-trace
length tracks problem difficulty only in-distribution and decouples out of it — long traces
mostly recall familiar schemas. The monitor computes Spearman's rho between each item's mean
trace length in the batch and its estimated difficulty (``context.difficulty``, else 1 - the
posterior pass rate, else the in-batch failure rate), over all items and split into in- and
out-of-distribution items (``context.in_distribution``, else ``distance`` <= its
``distance_quantile`` within the batch). Decoupling is tested one-sided (rho_in > rho_out) with
Fisher's z on Spearman's rho (variance 1.06 / (n - 3)). What it is not: a difficulty estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zpd.monitors.base import (
    Alert,
    MonitorContext,
    MonitorResult,
    Severity,
    check_fraction,
    check_positive_int,
    resolve_item_values,
)
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.stats import spearman, spearman_diff_pvalue


@dataclass(frozen=True)
class CouplingConfig:
    """Settings of the ``coupling`` monitor."""

    distance_quantile: float = 0.5
    """Items with distance <= this quantile (within the batch) count as in-distribution."""
    min_items: int = 10
    """Each side of the split needs at least this many items for the decoupling test."""
    alpha: float = 0.01
    """Significance level of the one-sided decoupling test."""

    def __post_init__(self) -> None:
        check_fraction("CouplingConfig.distance_quantile", self.distance_quantile, open_low=True)
        check_positive_int("CouplingConfig.min_items", self.min_items, 4)
        check_fraction("CouplingConfig.alpha", self.alpha, open_low=True)


class CouplingMonitor:
    """Spearman(trace length, difficulty) over items: all, in- and out-of-distribution.

    Metrics: ``spearman_all``, ``items``, ``uses_posterior`` and with a split ``spearman_in``,
    ``spearman_out``, ``items_in``, ``items_out``, ``decoupling_pvalue``. Info alert when length
    tracks difficulty in-distribution significantly more than out of it. arXiv 2509.07339.
    """

    name = "coupling"

    def __init__(self, config: CouplingConfig | None = None) -> None:
        self.config = config or CouplingConfig()

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        ids, inv = np.unique(batch.item_ids, return_inverse=True)  # (I,), (N,)
        inv = inv.reshape(-1)
        count = np.bincount(inv, minlength=ids.size)
        length = np.bincount(inv, weights=batch.lengths, minlength=ids.size) / count  # (I,)
        diff = context.difficulties(ids)
        uses_posterior = diff is not None
        if diff is None:
            diff = 1.0 - np.bincount(inv, weights=batch.rewards, minlength=ids.size) / count
        metrics = {"spearman_all": spearman(length, diff), "items": float(ids.size),
                   "uses_posterior": float(uses_posterior)}
        inside = self._split(ids, context)
        if inside is None:
            return MonitorResult(metrics)
        r_in, r_out = spearman(length[inside], diff[inside]), spearman(length[~inside], diff[~inside])
        n_in, n_out = int(inside.sum()), int((~inside).sum())
        p = spearman_diff_pvalue(r_in, n_in, r_out, n_out)
        metrics.update(spearman_in=r_in, spearman_out=r_out, items_in=float(n_in),
                       items_out=float(n_out), decoupling_pvalue=p)
        cfg, alerts = self.config, []
        if min(n_in, n_out) >= cfg.min_items and math.isfinite(p) and p < cfg.alpha and r_in > 0:
            alerts.append(Alert(
                self.name, Severity.INFO,
                f"trace length tracks difficulty in-distribution (rho={r_in:.2f}, {n_in} items) "
                f"but not out of it (rho={r_out:.2f}, {n_out} items; p={p:.1e}): do not read long "
                "traces as 'hard' on far items.",
                context.step, r_in - r_out, cfg.alpha, "decoupling_pvalue",
            ))
        return MonitorResult(metrics, alerts)

    def _split(self, ids: np.ndarray, context: MonitorContext) -> np.ndarray | None:
        """(I,) bool in-distribution flag, or None when the context gives no split."""
        if context.in_distribution is not None:
            return resolve_item_values(context.in_distribution, ids, "in_distribution") > 0.5
        if context.distance is not None:
            d = resolve_item_values(context.distance, ids, "distance")
            return np.asarray(d <= np.quantile(d, self.config.distance_quantile))
        return None
