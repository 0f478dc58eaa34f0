"""KL to the base model from token log-probs, and the drift budget (monitor family ``kl``).

What it is: the k1 and k3 Monte Carlo estimators of KL(policy || base) from the log-probs of the
sampled tokens (Schulman, "Approximating KL divergence", 2020: with r = base(x) / policy(x) and
x sampled from the policy, k1 = -log r is unbiased but noisy and can go negative; k3 =
(r - 1) - log r is unbiased and always >= 0), per token and per sequence, per step and
cumulative (summed over steps: the distance a run has spent). ``DriftBudget`` turns the
smoothed and cumulative KL into a pressure in [0, 1] that the ``zpd`` policy reads through
``curriculum.set_drift_pressure(x)`` to lean toward easier, in-distribution items while drift runs
high — staying near the base preserves plasticity (arXiv 2605.12484). What it is not: a KL
penalty in the loss (the trainer owns that); batches without log-probs yield no metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zpd.monitors.base import Alert, MonitorContext, MonitorResult, Severity, check_fraction
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.errors import MonitorInputError

_MAX_LOG_RATIO = 30.0  # exp(30) ~ 1e13: keeps k3 finite on a pathological token


def kl_estimates(logp: np.ndarray, logq: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """k1/k3 estimates of KL(p || q) from samples of p: token means and per-sequence sums.

    ``logp``: (N, T) log-probs of the sampled tokens under the policy p; ``logq``: same tokens
    under the base q; ``mask``: (N, T) valid tokens. Schulman (2020), "Approximating KL divergence".
    """
    log_r = np.clip(logq - logp, -_MAX_LOG_RATIO, _MAX_LOG_RATIO)  # (N, T) log(q/p)
    k1 = np.where(mask, -log_r, 0.0)
    k3 = np.where(mask, np.expm1(log_r) - log_r, 0.0)
    n_tok = max(int(mask.sum()), 1)
    return {
        "k1": float(k1.sum() / n_tok),
        "k3": float(k3.sum() / n_tok),
        "k1_seq": float(k1.sum(axis=1).mean()),
        "k3_seq": float(k3.sum(axis=1).mean()),
    }


@dataclass(frozen=True)
class DriftBudgetConfig:
    """How much KL to the base a run may spend before the curriculum is told to ease off."""

    budget: float = 0.05
    """Per-token KL (k3, smoothed) at which pressure reaches 1 (nats per token)."""
    cumulative_budget: float | None = None
    """Optional budget for the per-token KL summed over steps; None: no cumulative budget."""
    soft_fraction: float = 0.5
    """Pressure starts rising when KL passes this fraction of a budget, reaching 1 at the budget."""
    smoothing: float = 0.9
    """EMA factor of the per-step KL (0: no smoothing); the first step seeds the EMA."""

    def __post_init__(self) -> None:
        if not (isinstance(self.budget, (int, float)) and math.isfinite(self.budget)
                and self.budget > 0):
            raise MonitorInputError(f"DriftBudgetConfig.budget={self.budget!r}: must be > 0")
        cb = self.cumulative_budget
        if cb is not None and not (isinstance(cb, (int, float)) and math.isfinite(cb) and cb > 0):
            raise MonitorInputError(f"DriftBudgetConfig.cumulative_budget={cb!r}: must be > 0 or None")
        check_fraction("DriftBudgetConfig.soft_fraction", self.soft_fraction)
        if self.soft_fraction >= 1:
            raise MonitorInputError("DriftBudgetConfig.soft_fraction must be < 1")
        check_fraction("DriftBudgetConfig.smoothing", self.smoothing)
        if self.smoothing >= 1:
            raise MonitorInputError("DriftBudgetConfig.smoothing must be < 1")


class DriftBudget:
    """Pressure in [0, 1] from smoothed per-step KL and cumulative KL against their budgets.

    pressure = max over budgets of clip((kl - s * budget) / ((1 - s) * budget), 0, 1) with s =
    ``soft_fraction``; the cumulative term never decreases (a spent budget stays spent).
    Plasticity cost of drifting from the base: arXiv 2605.12484.
    """

    def __init__(self, config: DriftBudgetConfig | None = None) -> None:
        self.config = config or DriftBudgetConfig()
        self.ema = math.nan
        self.cumulative = 0.0
        self.steps = 0

    @property
    def pressure(self) -> float:
        """Current pressure in [0, 1] (0 before any update)."""
        if self.steps == 0:
            return 0.0
        cfg = self.config
        out = _ramp(self.ema, cfg.budget, cfg.soft_fraction)
        if cfg.cumulative_budget is not None:
            out = max(out, _ramp(self.cumulative, cfg.cumulative_budget, cfg.soft_fraction))
        return out

    def update(self, kl: float) -> float:
        """Add one step's per-token KL (>= 0, finite); return the new pressure."""
        if not (math.isfinite(kl) and kl >= -1e-9):
            raise MonitorInputError(f"DriftBudget.update({kl!r}): pass a finite KL >= 0")
        kl = max(kl, 0.0)
        a = self.config.smoothing
        self.ema = kl if self.steps == 0 else a * self.ema + (1 - a) * kl
        self.cumulative += kl
        self.steps += 1
        return self.pressure

    def apply(self, curriculum: Any) -> bool:
        """Call ``curriculum.set_drift_pressure(pressure)`` if it exists; True when called."""
        setter = getattr(curriculum, "set_drift_pressure", None)
        if setter is None:
            return False
        setter(self.pressure)
        return True

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"ema": None if self.steps == 0 else self.ema, "cumulative": self.cumulative,
                "steps": self.steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; raises ``MonitorInputError`` if malformed."""
        try:
            steps, cum = int(state["steps"]), float(state["cumulative"])
            ema = math.nan if state["ema"] is None else float(state["ema"])
        except (KeyError, TypeError, ValueError) as e:
            raise MonitorInputError(f"drift budget state is malformed ({e})") from None
        if steps < 0 or cum < 0:
            raise MonitorInputError("drift budget state: steps and cumulative must be >= 0")
        self.ema, self.cumulative, self.steps = ema, cum, steps


def _ramp(x: float, budget: float, soft: float) -> float:
    return float(np.clip((x - soft * budget) / ((1 - soft) * budget), 0.0, 1.0))


class KLMonitor:
    """k1/k3 KL to the base per step and cumulative, with a drift budget fed to the curriculum.

    Metrics: ``k1``, ``k3`` (per-token means), ``k1_seq``, ``k3_seq`` (mean per-sequence sums),
    ``k3_ema``, ``cumulative`` (summed per-token k3), ``drift_pressure``. When the context's
    curriculum has ``set_drift_pressure`` and ``steer`` is on (the default), the pressure is
    pushed to it each step; ``steer=False`` only measures. Warns when
    the smoothed KL exceeds the budget or the cumulative budget is spent.
    Estimators: Schulman (2020); plasticity: arXiv 2605.12484.
    """

    name = "kl"

    def __init__(self, budget: DriftBudget | DriftBudgetConfig | None = None, *,
                 steer: bool = True) -> None:
        self.budget = budget if isinstance(budget, DriftBudget) else DriftBudget(budget)
        self.steer = steer

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        if batch.logprobs is None or batch.base_logprobs is None:
            return MonitorResult()
        metrics = kl_estimates(batch.logprobs, batch.base_logprobs, batch.token_mask)
        pressure = self.budget.update(metrics["k3"])
        b = self.budget
        metrics.update(k3_ema=b.ema, cumulative=b.cumulative, drift_pressure=pressure)
        if self.steer and context.curriculum is not None:
            b.apply(context.curriculum)
        cfg, alerts = b.config, []
        if b.ema > cfg.budget:
            alerts.append(Alert(
                self.name, Severity.WARNING,
                f"smoothed KL to base {b.ema:.3g} nats/token exceeds the budget {cfg.budget:.3g}: "
                "drift costs plasticity. Lower the learning rate, raise the KL coefficient, or "
                "let the drift pressure steer the curriculum to easier items.",
                context.step, b.ema, cfg.budget, "k3_ema",
            ))
        if cfg.cumulative_budget is not None and b.cumulative > cfg.cumulative_budget:
            alerts.append(Alert(
                self.name, Severity.WARNING,
                f"cumulative KL {b.cumulative:.3g} has spent the run's budget "
                f"{cfg.cumulative_budget:.3g}.",
                context.step, b.cumulative, cfg.cumulative_budget, "cumulative",
            ))
        return MonitorResult(metrics, alerts)

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state (the drift budget's)."""
        return {"budget": self.budget.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        if "budget" not in state:
            raise MonitorInputError("kl state is malformed: no 'budget' entry")
        self.budget.load_state_dict(state["budget"])
