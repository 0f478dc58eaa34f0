"""Zero-variance share and truncation rate of a rollout batch (monitor family ``groups``).

What it is: a stateless monitor of how many GRPO groups carry no learning signal (every sample
got the same reward: all correct, all wrong) and how many rollouts hit the length limit.
GRPO (Shao et al., arXiv 2402.03300) normalises rewards within a group, so a zero-variance group
has zero advantage and its rollouts are paid for and wasted; DAPO (Yu et al., arXiv 2503.14476)
drops such groups and treats overlong (truncated) samples specially. What it is not: a filter —
it only measures (the curriculum decides what to sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zpd.monitors.base import Alert, MonitorContext, MonitorResult, Severity, check_fraction
from zpd.monitors.batch import RolloutBatch


@dataclass(frozen=True)
class GroupsConfig:
    """Alert thresholds of the ``groups`` monitor."""

    zero_variance_alert: float = 0.6
    """Warn when more than this share of groups has zero reward variance (no GRPO signal)."""
    truncation_alert: float = 0.1
    """Warn when more than this share of rollouts is truncated at the generation limit."""

    def __post_init__(self) -> None:
        check_fraction("GroupsConfig.zero_variance_alert", self.zero_variance_alert)
        check_fraction("GroupsConfig.truncation_alert", self.truncation_alert)


class GroupsMonitor:
    """Zero-variance (all-correct / all-wrong) group shares and truncation rate.

    A group of size 1 counts as zero-variance (it has no advantage either). Metrics:
    ``zero_variance_share``, ``all_correct_share`` (every reward 1), ``all_wrong_share`` (every
    reward 0), ``mean_reward``, ``num_groups``, ``mean_group_size`` and, when the batch carries
    truncation flags, ``truncation_rate`` and ``truncated_mean_reward``.
    GRPO: arXiv 2402.03300; DAPO (zero-variance filtering, overlong samples): arXiv 2503.14476.
    """

    name = "groups"

    def __init__(self, config: GroupsConfig | None = None) -> None:
        self.config = config or GroupsConfig()

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        codes, b = batch.group_codes, batch.num_groups
        r = batch.rewards  # (N,)
        gmin = np.full(b, np.inf)
        gmax = np.full(b, -np.inf)
        np.minimum.at(gmin, codes, r)
        np.maximum.at(gmax, codes, r)  # (B,)
        zero_var = gmin == gmax
        metrics = {
            "zero_variance_share": float(zero_var.mean()),
            "all_correct_share": float((zero_var & (gmin == 1.0)).mean()),
            "all_wrong_share": float((zero_var & (gmax == 0.0)).mean()),
            "mean_reward": float(r.mean()),
            "num_groups": float(b),
            "mean_group_size": float(batch.group_sizes.mean()),
        }
        alerts = []
        cfg, step = self.config, context.step
        if metrics["zero_variance_share"] > cfg.zero_variance_alert:
            alerts.append(Alert(
                self.name, Severity.WARNING,
                f"{metrics['zero_variance_share']:.0%} of groups have zero reward variance "
                f"(all correct {metrics['all_correct_share']:.0%}, all wrong "
                f"{metrics['all_wrong_share']:.0%}): their rollouts teach nothing; sample closer "
                "to the model's zone (policy='zpd') or raise the group size.",
                step, metrics["zero_variance_share"], cfg.zero_variance_alert,
                "zero_variance_share",
            ))
        if batch.truncated is not None:
            trunc = batch.truncated
            metrics["truncation_rate"] = float(trunc.mean())
            metrics["truncated_mean_reward"] = float(r[trunc].mean()) if trunc.any() else 0.0
            if metrics["truncation_rate"] > cfg.truncation_alert:
                alerts.append(Alert(
                    self.name, Severity.WARNING,
                    f"{metrics['truncation_rate']:.0%} of rollouts hit the length limit: raise "
                    "max_new_tokens or check for runaway generations.",
                    step, metrics["truncation_rate"], cfg.truncation_alert, "truncation_rate",
                ))
        return MonitorResult(metrics, alerts)
