"""Accidental successes: positive advantage on near-impossible items (monitor family ``accidental``).

What it is: a stateless measure of how much of a step's positive learning signal comes from
lucky successes on items the model almost never solves. Group-normalised advantage (GRPO, arXiv
2402.03300) gives a lone success among G samples an advantage of sqrt(G - 1), the largest in the
batch; Sample Difficulty in RLVR (arXiv 2605.28388) shows that training on such flukes teaches
shortcuts that leak into prior skills. A rollout is *accidental* when its advantage is positive
and its item's pass rate is below ``pass_rate_threshold``. The pass rate is the curriculum's
posterior mean before this batch's update (``context.pass_rate`` or ``context.curriculum``);
without one, the leave-one-out success rate of the other rollouts in its group stands in.
What it is not: an advantage function — it reads ``batch.advantages`` or recomputes GRPO's.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class AccidentalConfig:
    """Settings of the ``accidental`` monitor."""

    pass_rate_threshold: float = 0.1
    """Items whose pass rate is below this are near-impossible for the current model."""
    success_threshold: float = 0.5
    """A rollout is a success when its reward is >= this (for the leave-one-out fallback)."""
    mass_alert: float = 0.25
    """Warn when accidental rollouts carry at least this share of the positive advantage mass."""
    min_accidental: int = 3
    """Alert only when at least this many accidental rollouts are in the batch."""

    def __post_init__(self) -> None:
        check_fraction("AccidentalConfig.pass_rate_threshold", self.pass_rate_threshold)
        check_fraction("AccidentalConfig.success_threshold", self.success_threshold, open_low=True)
        check_fraction("AccidentalConfig.mass_alert", self.mass_alert, open_low=True)
        check_positive_int("AccidentalConfig.min_accidental", self.min_accidental)


def grpo_advantages(batch: RolloutBatch, eps: float = 1e-6) -> np.ndarray:
    """(N,) GRPO advantages (r - group mean) / (group std + eps), std with ddof=0.

    Shao et al., arXiv 2402.03300. With ddof=0 a lone success among G gets sqrt(G - 1).
    """
    codes = batch.group_codes
    mean = batch.group_mean(batch.rewards)[codes]  # (N,)
    var = batch.group_mean((batch.rewards - mean) ** 2)[codes]
    return np.asarray((batch.rewards - mean) / (np.sqrt(var) + eps))


class AccidentalMonitor:
    """Share and advantage mass of positive-advantage rollouts on near-impossible items.

    Metrics: ``accidental_share`` (of positive-advantage rollouts), ``accidental_advantage_mass``
    (their share of the summed positive advantage), ``accidental_rollouts``,
    ``near_impossible_group_share`` and ``uses_posterior`` (1 when a curriculum posterior was
    available, 0 for the leave-one-out fallback). arXiv 2605.28388; GRPO arXiv 2402.03300.
    """

    name = "accidental"

    def __init__(self, config: AccidentalConfig | None = None) -> None:
        self.config = config or AccidentalConfig()

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        cfg = self.config
        adv = batch.advantages if batch.advantages is not None else grpo_advantages(batch)
        group_p = context.pass_rates(batch.group_item_ids)  # (B,) or None
        uses_posterior = group_p is not None
        if group_p is not None:
            p = group_p[batch.group_codes]  # (N,)
        else:
            p = _leave_one_out_rate(batch, cfg.success_threshold)
        hard = p < cfg.pass_rate_threshold  # (N,)
        pos = adv > 0
        acc = pos & hard
        pos_mass = float(adv[pos].sum())
        mass = float(adv[acc].sum()) / pos_mass if pos_mass > 0 else 0.0
        hard_groups = np.bincount(batch.group_codes, weights=hard, minlength=batch.num_groups) > 0
        metrics = {
            "accidental_share": float(acc.sum() / pos.sum()) if pos.any() else 0.0,
            "accidental_advantage_mass": mass,
            "accidental_rollouts": float(acc.sum()),
            "near_impossible_group_share": float(hard_groups.mean()),
            "uses_posterior": float(uses_posterior),
        }
        alerts = []
        if mass >= cfg.mass_alert and acc.sum() >= cfg.min_accidental:
            alerts.append(Alert(
                self.name, Severity.WARNING,
                f"{mass:.0%} of the positive advantage comes from {int(acc.sum())} lucky "
                f"successes on items with pass rate < {cfg.pass_rate_threshold:.0%}: GRPO "
                "amplifies such flukes into shortcuts. Quarantine near-impossible items "
                "(policy='zpd') or use advantage kind='tracker'.",
                context.step, mass, cfg.mass_alert, "accidental_advantage_mass",
            ))
        return MonitorResult(metrics, alerts)


def _leave_one_out_rate(batch: RolloutBatch, threshold: float) -> np.ndarray:
    """(N,) success rate of the *other* rollouts of each row's group (0 for singleton groups)."""
    ok = batch.successes(threshold).astype(np.float64)  # (N,)
    codes = batch.group_codes
    sums = np.bincount(codes, weights=ok, minlength=batch.num_groups)[codes]
    others = batch.group_sizes[codes] - 1
    return np.where(others > 0, (sums - ok) / np.maximum(others, 1), 0.0)
