"""Group advantages for GRPO-style training: GRPO, Dr.GRPO, and a tracker-informed variant.

All functions map rewards of shape (B, G) (B groups of G rollouts of one prompt each) to
advantages of the same shape. Pure numpy; no state. Worked numbers below use G = 8 and a group
with one success: r = [1, 0, 0, 0, 0, 0, 0, 0].

* :func:`grpo` (DeepSeekMath, arXiv 2402.03300): A = (r - mean) / (std + eps), population std.
  Lone success: mean = 1/8, std = sqrt(7)/8, so A = sqrt(7) = 2.6458 for the success and
  -1/sqrt(7) = -0.3780 for each failure. Every group gets unit scale, however surprising it is.
* :func:`dr_grpo` (Dr. GRPO, arXiv 2503.20783): A = r - mean. Lone success: 0.875 / -0.125.
* :func:`tracker_informed`: baseline and scale from the item's posterior (mean mu, strength s
  pseudo-counts, before this group). m = (s*mu + sum r) / (s + G) is the posterior mean after the
  group, and A = (r - m) * sqrt(m(1 - m)) / 0.25, i.e. the GRPO-style standardisation
  (r - m) / sqrt(m(1-m)) times the group's learnability m(1-m) relative to its maximum 1/4
  (LILO, arXiv 2502.12272). A medium item behaves like GRPO: mu = 0.5, s = 8, 4 of 8 right
  gives m = 0.5 and A = +-1.0. A near-impossible item does not amplify a fluke: mu = 0.01, s = 8,
  lone success gives m = 1.08/16 = 0.0675 and A = 0.936 for the success, -0.068 per failure
  (GRPO: 2.646 / -0.378). Groups whose rewards are all equal get 0, as in GRPO.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from zpd.core.errors import RewardError

__all__ = ["dr_grpo", "grpo", "informative", "tracker_informed"]

F64 = npt.NDArray[np.float64]


def _rewards(rewards: object, *, unit: bool) -> F64:
    """(B, G) finite float64 rewards (in [0, 1] if ``unit``), or raise :class:`RewardError`."""
    try:
        r = np.array(rewards, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RewardError(f"rewards must be a numeric (B, G) array: {exc}") from exc
    if r.ndim != 2 or r.shape[1] < 1:
        raise RewardError(f"rewards must be 2-D (B, G) with G >= 1, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise RewardError("rewards contain NaN or inf")
    if unit and r.size and (r.min() < 0.0 or r.max() > 1.0):
        raise RewardError(f"rewards must lie in [0, 1], got [{r.min():g}, {r.max():g}]")
    return r


def informative(rewards: object) -> npt.NDArray[np.bool_]:
    """(B,) True where a group has reward variance (for binary rewards: 0 < successes < G)."""
    r = _rewards(rewards, unit=False)
    out: npt.NDArray[np.bool_] = r.max(axis=1) > r.min(axis=1)
    return out


def grpo(rewards: object, eps: float = 1e-6) -> F64:
    """GRPO group-normalised advantage (arXiv 2402.03300): (r - mean) / (std + eps).

    Population std (ddof=0), so a lone success in a group of G gets sqrt(G - 1).
    """
    r = _rewards(rewards, unit=False)  # (B, G)
    mean = r.mean(axis=1, keepdims=True)  # (B, 1)
    std = r.std(axis=1, keepdims=True)  # (B, 1)
    out: F64 = np.where(std > 0, (r - mean) / (std + eps), 0.0)
    return out


def dr_grpo(rewards: object) -> F64:
    """Dr. GRPO mean-only advantage (arXiv 2503.20783): r - mean, no std division."""
    r = _rewards(rewards, unit=False)  # (B, G)
    out: F64 = r - r.mean(axis=1, keepdims=True)
    return out


def tracker_informed(rewards: object, prior_mean: object, prior_strength: object) -> F64:
    """Advantage with baseline and scale from the item's posterior (see module docstring).

    ``prior_mean`` (B,) in [0, 1] and ``prior_strength`` (B,) >= 0 pseudo-counts describe the
    item's pass-rate posterior before this group (``Curriculum.advantage`` passes them).
    """
    r = _rewards(rewards, unit=True)  # (B, G)
    b, g = r.shape
    mu = np.asarray(prior_mean, dtype=np.float64).reshape(-1)
    s = np.asarray(prior_strength, dtype=np.float64).reshape(-1)
    if mu.shape != (b,) or s.shape != (b,):
        raise RewardError(f"prior_mean and prior_strength must have shape ({b},)")
    if not (np.all(np.isfinite(mu)) and np.all((mu >= 0) & (mu <= 1))):
        raise RewardError("prior_mean must be finite pass rates in [0, 1]")
    if not (np.all(np.isfinite(s)) and np.all(s >= 0)):
        raise RewardError("prior_strength must be finite and >= 0")
    m = (s * mu + r.sum(axis=1)) / (s + g)  # (B,) posterior mean after the group
    scale = np.sqrt(m * (1.0 - m)) / 0.25  # (B,) learnability-weighted inverse std
    out: F64 = (r - m[:, None]) * scale[:, None]
    constant = r.max(axis=1) == r.min(axis=1)  # (B,)
    out[constant] = 0.0
    return out
