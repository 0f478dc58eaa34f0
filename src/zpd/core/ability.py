"""Shared ability model: an online Rasch (1PL item-response) model plus a feature regression.

P(success on item i) = sigmoid(theta[c_i] - b_i), where theta[c] = global ability + an offset
for the item's category (relation type) and b_i is the item's difficulty. Everything is fitted
online from the same outcomes the per-item tracker sees, as a Gaussian (Laplace) filter in the
spirit of Elo/Glicko (Glickman 1999) and online IRT:

* abilities are Gaussian random walks (process noise per round); each update adds its gradient
  and information to a pending sum, and the round boundary (the next ``sample()``) takes one
  Newton step, global first, then per-category offsets;
* item difficulty: each item keeps its evidence as (K, N, theta_bar): successes and rollouts
  (decayed lazily with the item's age) and the ability they were gathered at. Its difficulty is
  the posterior mode (a few vectorised Newton steps, Laplace variance) of the binomial
  likelihood Bin(K; N, sigmoid(theta_bar - b)) under the CURRENT feature prediction as prior,
  so a better feature model re-places seen items too, and the predicted pass rate of a stale
  item, sigmoid(theta_now - b), moves as the ability does. Evidence is folded in at the round
  boundary, after the abilities are committed, so the shared drift goes into the ability;
* unseen items: the difficulty is predicted from features by a ridge regression with forgetting,
  fitted on the seen items' difficulties. How much the features leave unexplained (the prior
  variance of an unseen item's difficulty) is estimated by empirical Bayes from first
  observations: E[(rbar - p)^2 - s^2/n] = Var(p) ~ (p(1-p))^2 * var_logit (method of moments).

Everything an update does is a sum over its items, applied at the round boundary in sorted-id
order, so updates with disjoint ids commute. This module is not the per-item Beta tracker
(:mod:`zpd.core.tracker`) and draws no random numbers.
(Per item: float32 K, N, theta_bar, mean practice, int32 last round, uint8 practice count,
and the category in the narrowest unsigned type that holds it (1 byte below 256 categories):
22 bytes, plus a float16 row of standardised features, 2 bytes per column.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zpd.core.arrays import append_rows, unique_inverse
from zpd.core.config import AbilityConfig
from zpd.core.errors import StateError

__all__ = ["AbilityModel", "FeatureScaler", "sigmoid"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
F16 = npt.NDArray[np.float16]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

_MIN_VAR = 1e-4  # floor of any variance, keeps precisions finite
_NEWTON_ITERS = 4  # Newton steps of an item difficulty's posterior mode
_EB_PRIOR_WEIGHT = 2.0  # pseudo-weight of the configured prior variance in the EB estimate
_PENDING = ("ids", "k", "n", "sq", "inf")
_SCALARS = ("theta0", "var0", "eb_num", "eb_den", "eb_pq2", "resid_var", "tail_share",
            "tail_num", "tail_den", "pending_step", "eta", "eta_var")
_ETA_DRIFT = 1e-4  # variance added to the practice effect per round


def sigmoid(x: F64) -> F64:
    """Logistic function (tanh form: no overflow, no clipping needed)."""
    out: F64 = 0.5 + 0.5 * np.tanh(0.5 * x)
    return out


def marginal_mean(mu: F64, var: F64) -> F64:
    """E[sigmoid(z)] for z ~ N(mu, var), probit approximation (MacKay 1992)."""
    return sigmoid(mu / np.sqrt(1.0 + np.pi * var / 8.0))


class FeatureScaler:
    """Standardises numeric features (statistics fixed at construction) into float32 columns.

    NaN (missing) becomes 0 after standardisation, i.e. the feature's mean.
    """

    def __init__(self, numeric: dict[str, F64], n: int) -> None:
        self.names: tuple[str, ...] = tuple(sorted(numeric))
        self.widths: tuple[int, ...] = tuple(
            1 if numeric[k].ndim == 1 else int(numeric[k].shape[1]) for k in self.names
        )
        cols = self._columns(numeric, n)  # (N, F)
        finite = np.isfinite(cols)
        cnt = finite.sum(axis=0)
        safe = np.where(finite, cols, 0.0)
        mean = safe.sum(axis=0) / np.maximum(cnt, 1)
        var = (np.where(finite, cols - mean, 0.0) ** 2).sum(axis=0) / np.maximum(cnt, 1)
        self.mean: F64 = mean
        std = np.sqrt(var)
        self.std: F64 = np.where(std > 1e-12, std, 1.0)

    @property
    def dim(self) -> int:
        """Number of columns F."""
        return int(sum(self.widths))

    def _columns(self, numeric: dict[str, F64], n: int) -> F64:
        parts = [numeric[k].reshape(n, -1) for k in self.names]
        return np.concatenate(parts, axis=1) if parts else np.zeros((n, 0))

    def check_widths(self, numeric: dict[str, F64]) -> str | None:
        """Return an error message if ``numeric`` does not match the fitted layout."""
        for name, width in zip(self.names, self.widths):
            got = 1 if numeric[name].ndim == 1 else int(numeric[name].shape[1])
            if got != width:
                return f"feature {name!r} must have {width} column(s), got {got}"
        return None

    def transform(self, numeric: dict[str, F64], n: int) -> F32:
        """(n, F) float32 standardised matrix, NaN -> 0."""
        cols = (self._columns(numeric, n) - self.mean) / self.std
        return np.nan_to_num(cols, nan=0.0).astype(np.float32)


@dataclass(frozen=True)
class _Round:
    """One round's evidence pooled per item (sorted ids) and what it says about abilities."""

    ids: I64  # (U,)
    k: F64  # (U,) sum of rewards
    n: F64  # (U,) rollouts
    inf: F64  # (U,) informative groups (the item was trained)
    g: F64  # (C,) ability gradient per category
    h: F64  # (C,) ability information per category
    hx: F64  # (C,) cross information of ability and practice effect per category
    eb: F64  # (3,) dispersion sums of first observations: excess, p(1-p), (p(1-p))^2
    eta: tuple[float, float]  # gradient and information about the practice effect


def _sum_by(index: npt.NDArray[Any], weights: F64, size: int) -> F64:
    """Sums of ``weights`` per ``index`` value (float64, length ``size``)."""
    out: F64 = np.bincount(index, weights=weights, minlength=size).astype(np.float64)
    return out


def _dispersion(mu: F64, var: F64, k: F64, n: F64, sq: F64,
                use: npt.NDArray[np.bool_]) -> F64:
    """Excess dispersion sums of first observations (method of moments, see module doc)."""
    if not np.any(use):
        return np.zeros(3)
    pbar = marginal_mean(mu[use], var[use])
    pq = pbar * (1.0 - pbar)
    nn, kk = n[use], k[use]
    rbar = kk / nn
    s2 = np.maximum(sq[use] - kk * rbar, 0.0) / (nn - 1.0)  # unbiased within-group variance
    excess = (rbar - pbar) ** 2 - s2 / nn  # its mean is Var(p) between items
    return np.array([excess.sum(), pq.sum(), (pq**2).sum()])


class AbilityModel:
    """Online Rasch model with per-category abilities and a feature -> difficulty regression."""

    def __init__(self, cfg: AbilityConfig, category: I32, X: F32) -> None:
        n = int(category.shape[0])
        self.cfg = cfg
        self.category: npt.NDArray[np.unsignedinteger[Any]] = _narrow(category)  # (N,)
        self.X: F16 = X.astype(np.float16)  # (N, F) standardised features
        self.ev_k: F32 = np.zeros(n, dtype=np.float32)  # (N,) successes seen (decayed)
        self.ev_n: F32 = np.zeros(n, dtype=np.float32)  # (N,) rollouts seen (decayed); 0 = unseen
        self.ev_theta: F32 = np.zeros(n, dtype=np.float32)  # (N,) ability they were seen at
        self.diff_last: I32 = np.full(n, -1, dtype=np.int32)  # (N,) round of last evidence
        self.practice: npt.NDArray[np.uint8] = np.zeros(n, dtype=np.uint8)  # (N,) times trained
        self.ev_x: F32 = np.zeros(n, dtype=np.float32)  # (N,) mean practice at the evidence
        self.eta = 0.0  # practice effect: logits gained per informative (trained) group
        self.eta_var = cfg.practice_prior_var
        c = int(category.max()) + 1 if n else 1
        self.theta0 = 0.0
        self.var0 = 1.0
        self.delta: F64 = np.zeros(c)  # (C,) category offsets
        self.delta_var: F64 = np.full(c, cfg.category_prior_var)  # (C,)
        self.pending: dict[str, F64] = {k: np.zeros(0) for k in _PENDING}  # items this round
        self.pending_step = 0.0  # the round the pending evidence belongs to
        self._agg: _Round | None = None
        d = self.X.shape[1] + 1
        self.reg_A: F64 = np.zeros((d, d))  # (F+1, F+1) weighted Z^T Z
        self.reg_c: F64 = np.zeros(d)  # (F+1,) weighted Z^T b
        self.reg_w: F64 = np.zeros(d)  # (F+1,) fitted weights, last = intercept
        self.eb_num = 0.0  # sum of excess dispersion D over first observations
        self.eb_den = 0.0  # sum of p(1-p) over first observations
        self.eb_pq2 = 0.0  # sum of (p(1-p))^2 over first observations
        self.resid_var = cfg.difficulty_prior_var
        self.tail_share = cfg.tail_share  # prior probability that an item is near-impossible
        self.tail_num = 0.0  # sum of tail responsibilities of first-observed items
        self.tail_den = 0.0  # number of first-observed items
        self._eff: tuple[F64, F64] | None = None

    @property
    def num_items(self) -> int:
        """Number of items."""
        return int(self.category.shape[0])

    @property
    def num_categories(self) -> int:
        """Number of category slots C."""
        return int(self.delta.shape[0])

    def append(self, category: I32, X: F32) -> None:
        """Add items (already validated; amortised O(m)); grows arrays and category slots."""
        m = int(category.shape[0])
        wide = _narrow(np.concatenate([category, self.category[:1]]))
        if wide.dtype.itemsize > self.category.dtype.itemsize:  # rare: O(N) once per widening
            self.category = self.category.astype(wide.dtype)
        self.category = append_rows(self.category, category.astype(self.category.dtype))
        self.X = append_rows(self.X, X.astype(np.float16))
        for key in ("ev_k", "ev_n", "ev_theta", "ev_x"):
            setattr(self, key, append_rows(getattr(self, key), np.zeros(m, np.float32)))
        self.practice = append_rows(self.practice, np.zeros(m, dtype=np.uint8))
        self.diff_last = append_rows(self.diff_last, np.full(m, -1, dtype=np.int32))
        need = int(category.max()) + 1 if m else 0
        if need > self.num_categories:
            extra = need - self.num_categories
            self.delta = np.concatenate([self.delta, np.zeros(extra)])
            self.delta_var = np.concatenate(
                [self.delta_var, np.full(extra, self.cfg.category_prior_var)]
            )
        self._eff = None
        self._agg = None

    def seed_offline(self, ids: I64, rate: F64, samples: F64) -> None:
        """Seed the evidence of never-observed ``ids`` with offline pass rates (BOTS, arXiv
        2510.26374): ``samples`` rollouts at ``rate``, as if seen at the ability of now.

        NaN rates and non-positive sample counts are skipped. The abilities are not moved
        (the rates were measured with another model); only item difficulties are placed.
        """
        use = np.isfinite(rate) & (samples > 0) & (self.diff_last[ids] < 0)
        ids, rate, samples = ids[use], np.clip(rate[use], 0.0, 1.0), samples[use]
        if ids.size == 0:
            return
        theta = (self.theta0 + self.delta)[self.category[ids]]
        self.ev_k[ids] = (rate * samples).astype(np.float32)
        self.ev_n[ids] = samples.astype(np.float32)
        self.ev_theta[ids] = theta.astype(np.float32)
        self.ev_x[ids] = 0.0
        self.diff_last[ids] = np.int32(0)

    # ------------------------------------------------------------ predictions
    def _round_step(self) -> tuple[float, float, F64, F64, float, float]:
        """The Newton step the pending evidence implies (pure; used by flush and predictions).

        Global ability and practice effect are solved jointly (a 2x2 Newton system: items
        re-observed after training inform both), then category offsets on what is left.
        Returns (global step, global var, offsets, offset vars, practice step, practice var).
        """
        cfg = self.cfg
        prec0 = 1.0 / (self.var0 + cfg.ability_drift)
        agg = self._aggregate()
        zero = np.zeros(self.num_categories)
        gc, hc, xc = (agg.g, agg.h, agg.hx) if agg is not None else (zero, zero, zero)
        g_eta, h_eta = agg.eta if agg is not None else (0.0, 0.0)
        g, h, hx = float(gc.sum()), float(hc.sum()), float(xc.sum())
        if cfg.practice_prior_var > 0:
            prec_eta = 1.0 / min(self.eta_var + _ETA_DRIFT, cfg.practice_prior_var)
            H = np.array([[prec0 + h, hx], [hx, prec_eta + h_eta]])  # (2, 2)
            step = np.linalg.solve(H, np.array([g, g_eta]))
            cov = np.linalg.inv(H)
            step0 = float(np.clip(step[0], -cfg.max_step, cfg.max_step))
            step_eta = float(np.clip(step[1], -0.2, 0.2))
            var0, var_eta = float(cov[0, 0]), float(cov[1, 1])
        else:
            step0 = float(np.clip(g / (prec0 + h), -cfg.max_step, cfg.max_step))
            var0, step_eta, var_eta = 1.0 / (prec0 + h), 0.0, self.eta_var
        dprec = 1.0 / np.minimum(self.delta_var + cfg.category_drift, cfg.category_prior_var)
        resid = gc - hc * step0 - xc * step_eta  # gradient left after the global steps
        dstep = np.clip(resid / (dprec + hc), -cfg.max_step, cfg.max_step)
        return step0, var0, self.delta + dstep, 1.0 / (dprec + hc), step_eta, var_eta

    def effective_theta(self) -> tuple[F64, F64]:
        """Per-category ability (mean, var), this round's pending evidence included."""
        if self._eff is None:
            step0, var0, delta, dvar, _, _ = self._round_step()
            self._eff = (self.theta0 + step0 + delta, var0 + dvar)
        return self._eff

    def difficulty(self, ids: I64, step: int) -> tuple[F64, F64, F64]:
        """Item difficulty at round ``step``: (mode, Laplace var, tail responsibility).

        The ordinary component is the Rasch posterior under the feature prediction; the tail
        component says the item is near-impossible (pass rate ``tail_pass_rate``) whatever the
        ability. The responsibility is the posterior probability of the tail given the item's
        evidence (Laplace approximation of the ordinary marginal likelihood); unseen items get
        the tail share.
        """
        pred = self.feature_prediction(ids)  # (M,)
        v0 = self.resid_var
        b, var = pred, np.full(ids.shape[0], v0)
        tail = np.full(ids.shape[0], max(self.tail_share, 0.0))
        seen = np.flatnonzero(self.diff_last[ids] >= 0)  # only these need a fit
        if seen.size:
            b, var = b.copy(), var.copy()
            b[seen], var[seen], tail[seen] = self._fit_seen(ids[seen], pred[seen], step)
        return b, var, tail

    def _fit_seen(self, ids: I64, pred: F64, step: int) -> tuple[F64, F64, F64]:
        """Posterior mode, Laplace variance and tail responsibility of seen items."""
        age = step - self.diff_last[ids].astype(np.float64)
        decay = self.cfg.difficulty_forgetting ** np.maximum(age, 0.0)
        kk = decay * self.ev_k[ids]  # (S,)
        nn = decay * self.ev_n[ids]  # (S,)
        # Logit offset of the evidence: ability then plus the practice effect then.
        tb = self.ev_theta[ids].astype(np.float64) + self.eta * self.ev_x[ids]  # (S,)
        v0 = self.resid_var
        b = pred.copy()
        for _ in range(_NEWTON_ITERS):
            p = sigmoid(tb - b)
            grad = (kk - nn * p) + (b - pred) / v0  # d/db of the negative log posterior
            b -= np.clip(grad / (nn * p * (1.0 - p) + 1.0 / v0), -2.0, 2.0)
        p = np.clip(sigmoid(tb - b), 1e-12, 1.0 - 1e-12)
        var = 1.0 / (1.0 / v0 + nn * p * (1.0 - p))
        return b, var, self._tail(kk, nn, p, b, pred, var)

    def _tail(self, kk: F64, nn: F64, p: F64, b: F64, pred: F64, var: F64) -> F64:
        """Posterior probability that each item is in the near-impossible tail."""
        pi = self.tail_share
        if pi <= 0.0:
            return np.zeros_like(kk)
        eps = self.cfg.tail_pass_rate
        log_ord = (kk * np.log(p) + (nn - kk) * np.log1p(-p) - 0.5 * (b - pred) ** 2
                   / self.resid_var + 0.5 * np.log(var / self.resid_var))
        log_tail = kk * np.log(eps) + (nn - kk) * np.log1p(-eps)
        return sigmoid(np.log(pi / (1.0 - pi)) + log_tail - log_ord)

    def feature_prediction(self, ids: I64) -> F64:
        """Difficulty predicted from features (the intercept alone when there are none)."""
        w = self.reg_w
        if w.shape[0] == 1:
            return np.full(ids.shape[0], w[0])
        pred: F64 = self.X[ids].astype(np.float64) @ w[:-1] + w[-1]
        return pred

    def predict(self, ids: I64, step: int, committed: bool = False) -> tuple[F64, F64, F64]:
        """(logit mean, logit var) of the ordinary component, theta[c] - b, and the tail
        responsibility of each id. ``committed``: use the abilities as of the last round
        boundary, without this round's pending evidence (what updates must use to commute)."""
        if committed:
            theta, tvar = self.theta0 + self.delta, self.var0 + self.delta_var
        else:
            theta, tvar = self.effective_theta()
        cat = self.category[ids]
        bm, bv, tail = self.difficulty(ids, step)
        return theta[cat] + self.eta * self.practice[ids] - bm, tvar[cat] + bv, tail

    # ----------------------------------------------------------------- update
    def observe(self, ids: I64, k: F64, n: F64, sq: F64, informative: F64, step: int) -> None:
        """Record one update of unique ``ids``: k = sum of rewards, n = rollouts, sq = sum r^2,
        informative = number of groups with reward variance (training moves the item).

        Nothing is fitted yet: the round's evidence is pooled per item and applied at the round
        boundary (:meth:`flush`), in sorted-id order, so disjoint updates commute exactly.
        """
        for key, val in zip(_PENDING, (ids.astype(np.float64), k, n, sq, informative)):
            self.pending[key] = np.concatenate([self.pending[key], val])
        self.pending_step = float(step)
        self._eff = None
        self._agg = None

    def _aggregate(self) -> _Round | None:
        """This round's evidence pooled per item, with its ability gradient and dispersion."""
        if self._agg is not None or self.pending["ids"].size == 0:
            return self._agg
        raw, step = self.pending, int(self.pending_step)
        uniq, inv = unique_inverse(raw["ids"].astype(np.int64))
        k, n, sq, inf = (_sum_by(inv, raw[key], uniq.size) for key in ("k", "n", "sq", "inf"))
        theta = self.theta0 + self.delta  # (C,) committed
        tvar = self.var0 + self.delta_var
        cat = self.category[uniq]
        bm, bv, tail = self.difficulty(uniq, step)
        x = self.practice[uniq].astype(np.float64)
        p = sigmoid(theta[cat] + self.eta * x - bm)
        g = (k - n * p) * (1.0 - tail)  # d loglik / d theta; tail items say nothing of it
        h = np.maximum(n * p * (1.0 - p) * (1.0 - tail), 1e-9)
        atten = 1.0 / (1.0 + h * bv)  # an uncertain difficulty leaves less for the ability
        # Items re-observed soon after were picked BECAUSE of their own recent outcomes, so
        # their residuals are selection-biased and their difficulty already absorbs them;
        # they inform the shared ability only as their evidence ages (fresh items fully).
        last = self.diff_last[uniq]
        age = np.where(last < 0, np.inf, step - last.astype(np.float64))
        atten = atten * (1.0 - self.cfg.selection_memory ** age)
        dx = np.where(self.diff_last[uniq] >= 0, x - self.ev_x[uniq], 0.0)  # training since
        eta_gh = (float(np.sum(g * atten * dx)), float(np.sum(h * atten * dx * dx)))
        c = self.num_categories
        first = (self.diff_last[uniq] < 0) & (n > 1)
        eb = _dispersion(theta[cat] - bm, tvar[cat] + bv, k, n, sq, first)
        self._agg = _Round(uniq, k, n, inf, _sum_by(cat, g * atten, c),
                           _sum_by(cat, h * atten, c), _sum_by(cat, h * atten * dx, c), eb,
                           eta_gh)
        return self._agg

    def flush(self, step: int) -> None:
        """Close round ``step``: commit the ability step, fit pending difficulties, refit."""
        agg = self._aggregate()
        step0, var0, delta, dvar, step_eta, var_eta = self._round_step()
        self.theta0 += step0
        self.eta += step_eta
        self.eta_var = var_eta
        self.var0 = max(var0, _MIN_VAR)
        self.delta = delta
        self.delta_var = np.maximum(dvar, _MIN_VAR)
        if agg is not None:
            self.eb_num += float(agg.eb[0])
            self.eb_den += float(agg.eb[1])
            self.eb_pq2 += float(agg.eb[2])
            self._fit_pending(agg, step)
        self.pending = {key: np.zeros(0) for key in _PENDING}
        self._agg = None
        self._refit()
        self._eff = None

    def _fit_pending(self, agg: _Round, step: int) -> None:
        """Fold the evidence of every item observed in round ``step`` into its (K, N, theta)."""
        uniq, k, n = agg.ids, agg.k, agg.n
        x = self.practice[uniq].astype(np.float64)  # practice when this evidence was gathered
        theta = (self.theta0 + self.delta)[self.category[uniq]]  # (U,) just committed
        last = self.diff_last[uniq]
        age = np.where(last < 0, 0.0, step - last.astype(np.float64))
        decay = self.cfg.difficulty_forgetting ** np.maximum(age, 0.0)
        n_old = decay * self.ev_n[uniq]
        n_new = n_old + n
        self.ev_theta[uniq] = ((n_old * self.ev_theta[uniq] + n * theta) / n_new).astype(
            np.float32)
        self.ev_x[uniq] = ((n_old * self.ev_x[uniq] + n * x) / n_new).astype(np.float32)
        self.practice[uniq] = np.minimum(x + agg.inf, 255).astype(np.uint8)
        self.ev_k[uniq] = (decay * self.ev_k[uniq] + k).astype(np.float32)
        self.ev_n[uniq] = n_new.astype(np.float32)
        self.diff_last[uniq] = np.int32(step)
        # Feature regression on the refitted difficulties, weighted by the data's share and
        # by the chance the item is ordinary; tail share by EM over first observations.
        b, v, tail = self.difficulty(uniq, step)
        first = n_old == 0
        self.tail_num += float(tail[first].sum())
        self.tail_den += float(first.sum())
        w = np.clip(1.0 - v / self.resid_var, 0.0, 1.0) * (1.0 - tail)
        Z = np.concatenate([self.X[uniq].astype(np.float64), np.ones((uniq.size, 1))], axis=1)
        self.reg_A += (Z * w[:, None]).T @ Z
        self.reg_c += Z.T @ (w * b)

    def _refit(self) -> None:
        """Solve the feature regression, update the prior variance, apply forgetting."""
        cfg = self.cfg
        d = self.reg_A.shape[0]
        pen = np.full(d, cfg.feature_ridge)
        pen[-1] = 1e-6  # leave the intercept (nearly) unpenalised
        self.reg_w = np.asarray(np.linalg.solve(self.reg_A + np.diag(pen), self.reg_c),
                                dtype=np.float64)
        # Empirical Bayes: intra-class share rho of the outcome variance -> logit variance.
        pq0 = 0.25
        v0 = cfg.difficulty_prior_var
        rho0 = pq0 * v0 / (1.0 + pq0 * v0)
        prior_w = 20.0 * pq0  # the configured variance counts as 20 items at p = 0.5
        rho = (self.eb_num + prior_w * rho0) / (self.eb_den + prior_w)
        rho = float(np.clip(rho, 0.002, 0.95))
        pq_ref = (self.eb_pq2 + prior_w * pq0) / (self.eb_den + prior_w)
        v_total = rho / ((1.0 - rho) * pq_ref)
        v_theta = float(np.mean(self.var0 + self.delta_var))
        self.resid_var = float(np.clip(v_total - v_theta, 0.05, 16.0))
        if cfg.tail_share > 0.0:
            prior_n = 20.0  # the configured tail share counts as 20 items
            self.tail_share = float(np.clip(
                (self.tail_num + prior_n * cfg.tail_share) / (self.tail_den + prior_n),
                0.002, 0.5))
        f = cfg.feature_forgetting
        self.tail_num *= f
        self.tail_den *= f
        self.reg_A *= f
        self.reg_c *= f
        self.eb_num *= f
        self.eb_den *= f
        self.eb_pq2 *= f

    # ------------------------------------------------------------------ state
    def state_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Arrays of the state dict (copies)."""
        scalars = np.array([float(getattr(self, key)) for key in _SCALARS])
        out: dict[str, npt.NDArray[Any]] = {
            "category": self.category.copy(),
            "X": self.X.copy(),
            "ev_k": self.ev_k.copy(),
            "ev_n": self.ev_n.copy(),
            "ev_theta": self.ev_theta.copy(),
            "ev_x": self.ev_x.copy(),
            "practice": self.practice.copy(),
            "diff_last": self.diff_last.copy(),
            "delta": self.delta.copy(),
            "delta_var": self.delta_var.copy(),
            "reg_A": self.reg_A.copy(),
            "reg_c": self.reg_c.copy(),
            "reg_w": self.reg_w.copy(),
            "scalars": scalars,
        }
        for key in _PENDING:
            out[f"pending_{key}"] = self.pending[key].copy()
        return out

    @staticmethod
    def check_state(arrays: dict[str, npt.NDArray[Any]], n: int, f: int) -> None:
        """Raise :class:`StateError` unless ``arrays`` fit ``n`` items with ``f`` features."""
        spec: dict[str, tuple[tuple[int, ...], str]] = {
            "category": ((n,), "i"),
            "X": ((n, f), "f"),
            "ev_k": ((n,), "f"),
            "ev_n": ((n,), "f"),
            "ev_theta": ((n,), "f"),
            "ev_x": ((n,), "f"),
            "practice": ((n,), "i"),
            "diff_last": ((n,), "i"),
            "reg_A": ((f + 1, f + 1), "f"),
            "reg_c": ((f + 1,), "f"),
            "reg_w": ((f + 1,), "f"),
            "scalars": ((len(_SCALARS),), "f"),
        }
        for key, (shape, kind) in spec.items():
            _expect(arrays, key, shape, kind)
        c = arrays["delta"].shape
        if len(c) != 1 or c[0] < 1:
            raise StateError("ability state 'delta' must be a non-empty 1-D array")
        for key in ("delta", "delta_var"):
            _expect(arrays, key, c, "f")
        if n and (int(arrays["category"].min()) < 0 or int(arrays["category"].max()) >= c[0]):
            raise StateError("ability state has a category id outside its category slots")
        p = arrays.get("pending_ids")
        m = p.shape if p is not None else (0,)
        for key in _PENDING:
            _expect(arrays, f"pending_{key}", m, "f")
        if m[0] and (arrays["pending_ids"].min() < 0 or arrays["pending_ids"].max() >= n):
            raise StateError("ability state has pending ids outside the item range")

    def load_arrays(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Load arrays already checked by :meth:`check_state`."""
        self.category = _narrow(arrays["category"])
        self.X = arrays["X"].astype(np.float16)
        for key in ("ev_k", "ev_n", "ev_theta", "ev_x"):
            setattr(self, key, arrays[key].astype(np.float32))
        self.practice = arrays["practice"].astype(np.uint8)
        self.diff_last = arrays["diff_last"].astype(np.int32)
        for key in ("delta", "delta_var", "reg_A", "reg_c", "reg_w"):
            setattr(self, key, arrays[key].astype(np.float64))
        self.pending = {k: arrays[f"pending_{k}"].astype(np.float64) for k in _PENDING}
        for key, value in zip(_SCALARS, arrays["scalars"].astype(np.float64)):
            setattr(self, key, float(value))
        self._agg = None
        self._eff = None


def _narrow(category: npt.NDArray[Any]) -> npt.NDArray[np.unsignedinteger[Any]]:
    """Category ids (validated non-negative) in the narrowest unsigned type that holds them."""
    top = int(category.max()) if category.size else 0
    dtype = np.uint8 if top < 1 << 8 else np.uint16 if top < 1 << 16 else np.uint32
    out: npt.NDArray[np.unsignedinteger[Any]] = category.astype(dtype)
    return out


def _expect(arrays: dict[str, npt.NDArray[Any]], key: str, shape: tuple[int, ...],
            kind: str) -> None:
    if key not in arrays:
        raise StateError(f"state is missing array {key!r}")
    arr = arrays[key]
    if arr.shape != shape:
        raise StateError(f"state array {key!r} has shape {arr.shape}, expected {shape}")
    kinds = "iu" if kind == "i" else kind
    if arr.size and arr.dtype.kind not in kinds or (not arr.size and arr.dtype.kind not in
                                                    kinds + "f"):
        raise StateError(f"state array {key!r} has dtype {arr.dtype}, expected kind {kind!r}")
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise StateError(f"state array {key!r} contains NaN or inf")
