"""Per-item Beta posterior over the pass rate, with lazy forgetting toward a moving prior.

For item i with stored pseudo-counts (a_i, b_i) written at round t_i, the posterior read at
round t is (cf. the discounted Beta-Bernoulli of MoPPS, arXiv 2507.04632, with the flat prior
replaced by the ability model's current prediction)::

    l = forgetting ** (t - t_i)                     # evidence kept
    a = l * a_i + (1 - l) * s * m                   # m: predicted pass rate now
    b = l * b_i + (1 - l) * s * (1 - m)             # s: prior strength (pseudo-counts)

so a stale item's estimate moves with the ability model instead of drifting to a flat 0.5.
An update adds k successes and n - k failures to the decayed posterior and stamps t_i = t.
Never-observed items read as Beta(s*m, s*(1-m)). Decay is lazy: nothing is touched until an
item is read or updated, so every call is O(len(ids)), never O(num_items).

The forgetting rate is chosen online (when ``adapt_forgetting``): for every re-observed item
the posterior mean under each rate of a small grid is scored against the observed pass rate
(squared error, a proper scoring rule for the mean); at each round boundary the rate with the
smallest discounted loss is used. How fast to forget is a property of the run (how quickly
items change relative to the ability model), so it is learned rather than guessed.

This module is only the posterior store and Beta arithmetic; the prior (m, s) comes from
:mod:`zpd.core.ability` via the curriculum. State: 12 bytes per item.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zpd.core.arrays import append_rows
from zpd.core.config import TrackerConfig

__all__ = ["Tracker", "beta_cdf", "beta_moments", "log_gamma", "prob_mixed"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

NEVER = -1
"""Round stamp of a never-observed item."""

GRID = (0.5, 0.7, 0.85, 0.95, 0.99)
"""Forgetting rates the tracker chooses from (plus the configured one)."""

_LOSS_DECAY = 0.95  # per-round discount of the forgetting rates' losses


_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028,
            771.32342877765313, -176.61502916214059, 12.507343278686905,
            -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7)
_TINY = 1e-300


def log_gamma(x: F64) -> F64:
    """log Gamma(x) for x > 0 (Lanczos approximation, g = 7; reflection below 0.5)."""
    small = x < 0.5
    z = np.where(small, 1.0 - x, x) - 1.0
    acc = np.full_like(z, _LANCZOS[0])
    for i in range(1, 9):
        acc += _LANCZOS[i] / (z + i)
    t = z + 7.5
    lg = 0.5 * np.log(2 * np.pi) + (z + 0.5) * np.log(t) - t + np.log(acc)
    out: F64 = np.where(small, np.log(np.pi / np.abs(np.sin(np.pi * x))) - lg, lg)
    return out


def _beta_cf(a: F64, b: F64, x: F64, iters: int = 200) -> F64:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h = d.copy()
    for m in range(1, iters + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            delta = d * c
            h *= delta
        if m % 4 == 0 and np.all(np.abs(delta - 1.0) < 1e-12):
            break
    return h


def beta_cdf(x: float, a: F64, b: F64) -> F64:
    """P(p <= x) for p ~ Beta(a, b): the regularised incomplete beta I_x(a, b), 0 < x < 1."""
    log_front = (log_gamma(a + b) - log_gamma(a) - log_gamma(b) + a * np.log(x)
                 + b * np.log1p(-x))
    front = np.exp(log_front)
    xs = np.full_like(a, x)
    direct = x < (a + 1.0) / (a + b + 2.0)
    out = np.empty_like(a)
    if np.any(direct):
        i = direct
        out[i] = front[i] * _beta_cf(a[i], b[i], xs[i]) / a[i]
    if np.any(~direct):
        j = ~direct
        out[j] = 1.0 - front[j] * _beta_cf(b[j], a[j], 1.0 - xs[j]) / b[j]
    clipped: F64 = np.clip(out, 0.0, 1.0)
    return clipped


def beta_moments(a: F64, b: F64) -> tuple[F64, F64]:
    """Mean and standard deviation of Beta(a, b)."""
    s = a + b
    mean = a / s
    sd = np.sqrt(a * b / (s * s * (s + 1.0)))
    return mean, sd


def prob_mixed(a: F64, b: F64, group_size: int) -> F64:
    """P(0 < successes < G) for G Bernoulli(p) draws with p ~ Beta(a, b).

    Closed form from the Beta moments: 1 - E[p^G] - E[(1-p)^G], with
    E[p^G] = prod_{j<G} (a + j) / (a + b + j). Worked example: Beta(1, 1) and G = 8 give
    1 - 2/9 = 0.777...; a point mass at p = 0.5 would give 1 - 2 * 0.5**8 = 0.992.
    """
    if group_size > 32:  # products could overflow: use the ratio form
        ep, eq, s = np.ones_like(a), np.ones_like(a), a + b
        for j in range(group_size):
            ep *= (a + j) / (s + j)
            eq *= (b + j) / (s + j)
        big: F64 = np.clip(1.0 - ep - eq, 0.0, 1.0)
        return big
    ep = np.ones_like(a)  # prod (a + j)
    eq = np.ones_like(a)  # prod (b + j)
    den = np.ones_like(a)  # prod (a + b + j)
    s = a + b
    tmp = np.empty_like(a)
    for j in range(group_size):
        np.multiply(ep, np.add(a, j, out=tmp), out=ep)
        np.multiply(eq, np.add(b, j, out=tmp), out=eq)
        np.multiply(den, np.add(s, j, out=tmp), out=den)
    out: F64 = np.clip(1.0 - (ep + eq) / den, 0.0, 1.0)
    return out


def _decay(lam: F64, alpha: F32, beta: F32, prior_mean: F64, prior_strength: F64
           ) -> tuple[F64, F64]:
    """Stored pseudo-counts, of which a share ``lam`` is kept, plus the prior for the rest."""
    rest = (1.0 - lam) * prior_strength
    a: F64 = lam * alpha + rest * prior_mean
    b: F64 = lam * beta + rest * (1.0 - prior_mean)
    return a, b


class Tracker:
    """Beta pseudo-counts (float32) and last-update round (int32) per item."""

    def __init__(self, cfg: TrackerConfig, num_items: int) -> None:
        self.cfg = cfg
        self.alpha: F32 = np.zeros(num_items, dtype=np.float32)  # (N,)
        self.beta: F32 = np.zeros(num_items, dtype=np.float32)  # (N,)
        self.last: I32 = np.full(num_items, NEVER, dtype=np.int32)  # (N,)
        self.grid: F64 = np.array(sorted(set(GRID) | {cfg.forgetting}))  # (L,)
        self.loss: F64 = np.zeros(self.grid.shape[0])  # (L,) discounted squared errors
        self.pend_loss: F64 = np.zeros((0, self.grid.shape[0]))  # (U, L) this round's errors
        self.lam = cfg.forgetting

    @property
    def num_items(self) -> int:
        """Number of items tracked."""
        return int(self.alpha.shape[0])

    def append(self, n: int) -> None:
        """Add ``n`` never-observed items (amortised O(n))."""
        self.alpha = append_rows(self.alpha, np.zeros(n, dtype=np.float32))
        self.beta = append_rows(self.beta, np.zeros(n, dtype=np.float32))
        self.last = append_rows(self.last, np.full(n, NEVER, dtype=np.int32))

    def seen(self, ids: I64) -> npt.NDArray[np.bool_]:
        """True where the item has been observed at least once."""
        out: npt.NDArray[np.bool_] = self.last[ids] != NEVER
        return out

    def age(self, ids: I64, step: int) -> F64:
        """Rounds since the item's last update (0 for never-observed items)."""
        last = self.last[ids]
        out: F64 = np.where(last == NEVER, 0.0, step - last.astype(np.float64))
        return out

    def posterior(self, ids: I64, prior_mean: F64, prior_strength: F64, step: int,
                  rate: float | None = None) -> tuple[F64, F64]:
        """Beta(a, b) of ``ids`` at round ``step``, decayed toward the given prior.

        ``rate``: forgetting per round (default: the rate in use).
        """
        a, b, _ = self.read(ids, prior_mean, prior_strength, step, rate)
        return a, b

    def read(self, ids: I64, prior_mean: F64, prior_strength: F64, step: int,
             rate: float | None = None) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
        """:meth:`posterior` plus the observed mask, from one gather of each array."""
        last = self.last[ids]
        never = last == NEVER
        r = self.lam if rate is None else rate
        lam = np.where(never, 0.0, r ** (step - last.astype(np.float64)))
        a, b = _decay(lam, self.alpha[ids], self.beta[ids], prior_mean, prior_strength)
        return a, b, ~never

    def observe(self, ids: I64, k: F64, n: F64, a: F64, b: F64, step: int,
                shift: F64 | None = None) -> None:
        """Store Beta(a + k, b + n - k) for unique ``ids`` (a, b: their posterior now).

        ``shift`` (logits, per id): move the posterior mean by this much on the logit scale,
        keeping its strength a + b (training on the item's group makes it easier).
        """
        a1, b1 = a + k, b + (n - k)
        if shift is not None and np.any(shift != 0.0):
            s = a1 + b1
            m = np.clip(a1 / s, 1e-6, 1.0 - 1e-6)
            m = 0.5 + 0.5 * np.tanh(0.5 * (np.log(m / (1.0 - m)) + shift))
            a1, b1 = s * m, s * (1.0 - m)
        self.alpha[ids] = a1.astype(np.float32)
        self.beta[ids] = b1.astype(np.float32)
        self.last[ids] = np.int32(step)

    def score_rates(self, ids: I64, rate: F64, prior_mean: F64, prior_strength: F64,
                    step: int) -> None:
        """Add each grid rate's squared error on the observed pass rates of seen ``ids``."""
        if not self.cfg.adapt_forgetting:
            return
        last = self.last[ids]
        seen = last != NEVER
        if not np.any(seen):
            return
        ids, rate, last = ids[seen], rate[seen], last[seen]
        m, s = prior_mean[seen], prior_strength[seen]
        alpha, beta = self.alpha[ids], self.beta[ids]  # one gather for every grid rate
        age = step - last.astype(np.float64)
        row = np.zeros((1, self.grid.shape[0]))
        for j, lam in enumerate(self.grid):
            a, b = _decay(float(lam) ** age, alpha, beta, m, s)
            row[0, j] = float(np.sum((rate - a / (a + b)) ** 2))
        self.pend_loss = np.concatenate([self.pend_loss, row])

    def end_round(self) -> None:
        """Fold this round's errors into the losses and pick the best forgetting rate."""
        if not self.cfg.adapt_forgetting:
            return
        # Sorting the per-update addends makes the sum independent of the update order.
        self.loss = self.loss * _LOSS_DECAY + np.sort(self.pend_loss, axis=0).sum(axis=0)
        self.pend_loss = np.zeros((0, self.grid.shape[0]))
        if np.any(self.loss > 0):
            self.lam = float(self.grid[int(np.argmin(self.loss))])

    def state_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Arrays of the state dict (copies)."""
        return {"alpha": self.alpha.copy(), "beta": self.beta.copy(), "last": self.last.copy(),
                "grid": self.grid.copy(), "loss": self.loss.copy(),
                "pend_loss": self.pend_loss.copy(), "lam": np.array([self.lam])}

    def load_arrays(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Load arrays already checked by the caller."""
        self.alpha = arrays["alpha"].astype(np.float32)
        self.beta = arrays["beta"].astype(np.float32)
        self.last = arrays["last"].astype(np.int32)
        self.grid = arrays["grid"].astype(np.float64)
        self.loss = arrays["loss"].astype(np.float64)
        self.pend_loss = arrays["pend_loss"].astype(np.float64)
        self.lam = float(arrays["lam"][0])
