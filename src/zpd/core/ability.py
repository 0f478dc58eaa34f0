"""Shared ability model: an online Rasch (1PL item-response) model plus a feature regression.

P(success on item i) = sigmoid(theta[c_i] - b_i), where theta[c] = global ability + an offset
for the item's category (relation type) and b_i is the item's difficulty. Everything is fitted
online from the same outcomes the per-item tracker sees, with one Laplace/Newton step per batch
(an Elo/Glicko-style filter, cf. Rasch 1960; Glickman 1999):

* item difficulty: Gaussian N(m_i, 1/tau_i); tau_i's data part decays lazily with the item's age,
  so an item's difficulty can move if it is learned faster than the rest;
* abilities: Gaussian random walks (process noise per round); their Newton steps are
  accumulated during a round and committed at the round boundary (the next ``sample()``), so
  updates with disjoint ids commute;
* unseen items: the difficulty is predicted from the item's features by a ridge regression with
  forgetting, fitted on the seen items' difficulties; its residual variance is the prior
  variance of an unseen item (how much the features leave unexplained).

This module is not the per-item Beta tracker (:mod:`zpd.core.tracker`) and draws no random
numbers. Arrays are float32/int32 per item (12 bytes) plus a float32 feature row per item.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zpd.core.config import AbilityConfig
from zpd.core.errors import StateError

__all__ = ["AbilityModel", "FeatureScaler", "sigmoid"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

_MIN_VAR = 1e-4  # floor of any variance, keeps precisions finite


def sigmoid(x: F64) -> F64:
    """Numerically safe logistic function."""
    out: F64 = 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))
    return out


class FeatureScaler:
    """Standardises numeric features (fixed at construction) into a float32 matrix.

    NaN (missing) becomes 0 after standardisation, i.e. the feature's mean.
    """

    def __init__(self, numeric: dict[str, F64], n: int) -> None:
        self.names: tuple[str, ...] = tuple(sorted(numeric))
        self.widths: tuple[int, ...] = tuple(
            1 if numeric[k].ndim == 1 else int(numeric[k].shape[1]) for k in self.names
        )
        cols = self._columns(numeric, n)  # (N, F)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(cols, axis=0) if cols.shape[0] else np.zeros(cols.shape[1])
            std = np.nanstd(cols, axis=0) if cols.shape[0] else np.ones(cols.shape[1])
        self.mean: F64 = np.nan_to_num(mean, nan=0.0)
        self.std: F64 = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)

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


class AbilityModel:
    """Online Rasch model with per-category abilities and a feature -> difficulty regression."""

    def __init__(self, cfg: AbilityConfig, category: I32, X: F32) -> None:
        n = int(category.shape[0])
        self.cfg = cfg
        self.n = n
        self.category: I32 = category.astype(np.int32)  # (N,)
        self.X: F32 = X.astype(np.float32)  # (N, F) standardised features
        self.diff_mean: F32 = np.zeros(n, dtype=np.float32)  # (N,) m_i (valid once seen)
        self.diff_prec: F32 = np.zeros(n, dtype=np.float32)  # (N,) data precision; 0 = unseen
        c = int(category.max()) + 1 if n else 1
        self.theta0 = 0.0
        self.var0 = 1.0
        self.delta: F64 = np.zeros(c)  # (C,) category offsets
        self.delta_var: F64 = np.full(c, cfg.category_prior_var)  # (C,)
        self.pend_g: F64 = np.zeros(c)  # (C,) gradient accumulated this round
        self.pend_h: F64 = np.zeros(c)  # (C,) information accumulated this round
        d = self.X.shape[1] + 1
        self.reg_A: F64 = np.zeros((d, d))  # (F+1, F+1) weighted X^T X
        self.reg_c: F64 = np.zeros(d)  # (F+1,) weighted X^T y
        self.reg_w: F64 = np.zeros(d)  # (F+1,) fitted weights, last = intercept
        self.resid_sw = 0.0  # weighted count of residuals
        self.resid_s2 = 0.0  # weighted sum of squared residuals
        self.resid_var = cfg.difficulty_prior_var
        self._eff: tuple[F64, F64] | None = None

    # ------------------------------------------------------------------ sizes
    @property
    def num_categories(self) -> int:
        """Number of category slots C."""
        return int(self.delta.shape[0])

    def append(self, category: I32, X: F32) -> None:
        """Add items (already validated); grows arrays and category slots."""
        self.category = np.concatenate([self.category, category.astype(np.int32)])
        self.X = np.concatenate([self.X, X.astype(np.float32)], axis=0)
        m = int(category.shape[0])
        self.diff_mean = np.concatenate([self.diff_mean, np.zeros(m, dtype=np.float32)])
        self.diff_prec = np.concatenate([self.diff_prec, np.zeros(m, dtype=np.float32)])
        self.n += m
        need = int(category.max()) + 1 if m else 0
        if need > self.num_categories:
            extra = need - self.num_categories
            self.delta = np.concatenate([self.delta, np.zeros(extra)])
            self.delta_var = np.concatenate(
                [self.delta_var, np.full(extra, self.cfg.category_prior_var)]
            )
            self.pend_g = np.concatenate([self.pend_g, np.zeros(extra)])
            self.pend_h = np.concatenate([self.pend_h, np.zeros(extra)])
        self._eff = None

    # ------------------------------------------------------------ predictions
    def _committed_theta(self) -> tuple[F64, F64]:
        """Per-category ability mean and variance as committed at the last round boundary."""
        mean = self.theta0 + self.delta  # (C,)
        var = self.var0 + self.delta_var  # (C,)
        return mean, var

    def _round_step(self) -> tuple[float, float, F64, F64]:
        """The Newton step the pending evidence implies (pure; used by flush and predictions)."""
        cfg = self.cfg
        prec0 = 1.0 / (self.var0 + cfg.ability_drift)
        g, h = float(self.pend_g.sum()), float(self.pend_h.sum())
        step0 = float(np.clip(g / (prec0 + h), -cfg.max_step, cfg.max_step))
        var0 = 1.0 / (prec0 + h)
        dvar = np.minimum(self.delta_var + cfg.category_drift, cfg.category_prior_var)
        dprec = 1.0 / dvar
        resid = self.pend_g - self.pend_h * step0  # gradient left after the global step
        dstep = np.clip(resid / (dprec + self.pend_h), -cfg.max_step, cfg.max_step)
        return step0, var0, self.delta + dstep, 1.0 / (dprec + self.pend_h)

    def effective_theta(self) -> tuple[F64, F64]:
        """Per-category ability (mean, var), including this round's pending evidence."""
        if self._eff is None:
            step0, var0, delta, dvar = self._round_step()
            self._eff = (self.theta0 + step0 + delta, var0 + dvar)
        return self._eff

    def difficulty(self, ids: I64, age: F64) -> tuple[F64, F64]:
        """Item difficulty (mean, var): fitted if seen, else predicted from features."""
        decay = self.cfg.difficulty_forgetting ** np.maximum(age, 0.0)
        data_prec = self.diff_prec[ids].astype(np.float64)  # 0 for unseen items
        pred = self.feature_prediction(ids)
        pp = 1.0 / self.resid_var
        # Posterior mean m = (pp*pred + D*dbar) / (pp + D). Decaying the data precision D by
        # `decay` relaxes m back toward the feature prediction: keep D*dbar's share `decay`.
        data_term = decay * (self.diff_mean[ids].astype(np.float64) * (pp + data_prec) - pp * pred)
        data_term = np.where(data_prec > 0, data_term, 0.0)
        prec = pp + decay * data_prec
        return (pp * pred + data_term) / prec, 1.0 / prec

    def feature_prediction(self, ids: I64) -> F64:
        """Difficulty predicted from features (intercept only when there are none)."""
        w = self.reg_w
        if w.shape[0] == 1:  # no features: the intercept (mean difficulty of seen items)
            return np.full(ids.shape[0], w[0])
        pred: F64 = self.X[ids].astype(np.float64) @ w[:-1] + w[-1]
        return pred

    def predict(self, ids: I64, age: F64) -> tuple[F64, F64]:
        """Logit of the predicted pass rate (mean, var) for ``ids``: theta[c] - b."""
        theta, tvar = self.effective_theta()
        cat = self.category[ids]
        bm, bv = self.difficulty(ids, age)
        return theta[cat] - bm, tvar[cat] + bv

    # ----------------------------------------------------------------- update
    def observe(self, ids: I64, k: F64, n: F64, age: F64) -> None:
        """One Laplace step per item (unique ``ids``) and accumulate ability evidence.

        ``k``/``n``: successes / rollouts per item (fractional rewards count fractionally).
        Uses the abilities committed at the last round boundary, so disjoint updates commute.
        """
        cfg = self.cfg
        theta, _ = self._committed_theta()
        cat = self.category[ids]
        bm, bv = self.difficulty(ids, age)
        p = sigmoid(theta[cat] - bm)
        g = k - n * p  # d loglik / d theta (= -d loglik / d b)
        h = np.maximum(n * p * (1.0 - p), 1e-9)
        prec_new = 1.0 / bv + h
        b_new = bm - np.clip(g / prec_new, -cfg.max_step, cfg.max_step)
        prior_prec = 1.0 / self.resid_var
        self.diff_mean[ids] = b_new.astype(np.float32)
        self.diff_prec[ids] = np.maximum(prec_new - prior_prec, 1e-6).astype(np.float32)
        # Ability evidence, attenuated by the item's own difficulty uncertainty.
        atten = 1.0 / (1.0 + h * bv)
        self.pend_g += np.bincount(cat, weights=g * atten, minlength=self.num_categories)
        self.pend_h += np.bincount(cat, weights=h * atten, minlength=self.num_categories)
        self._regress(ids, b_new, 1.0 / prec_new)
        self._eff = None

    def _regress(self, ids: I64, b_new: F64, v_post: F64) -> None:
        """Accumulate the feature regression's weighted sufficient statistics."""
        w = np.clip(1.0 - v_post / self.resid_var, 0.0, 1.0)  # share of info from data
        Z = np.concatenate([self.X[ids].astype(np.float64), np.ones((ids.size, 1))], axis=1)
        self.reg_A += (Z * w[:, None]).T @ Z
        self.reg_c += Z.T @ (w * b_new)
        resid = b_new - Z @ self.reg_w
        self.resid_s2 += float(np.sum(w * np.maximum(resid**2 - v_post, 0.0)))
        self.resid_sw += float(np.sum(w))

    def flush(self) -> None:
        """Commit the round: ability step, process noise, regression refit, forgetting."""
        cfg = self.cfg
        step0, var0, delta, dvar = self._round_step()
        self.theta0 += step0
        self.var0 = max(var0, _MIN_VAR)
        self.delta = delta
        self.delta_var = np.maximum(dvar, _MIN_VAR)
        self.pend_g[:] = 0.0
        self.pend_h[:] = 0.0
        d = self.reg_A.shape[0]
        pen = np.full(d, cfg.feature_ridge)
        pen[-1] = 1e-6  # leave the intercept (nearly) unpenalised
        self.reg_w = np.asarray(np.linalg.solve(self.reg_A + np.diag(pen), self.reg_c), np.float64)
        k0 = 10.0  # pseudo-count of the configured prior variance
        self.resid_var = float(
            np.clip(
                (self.resid_s2 + k0 * cfg.difficulty_prior_var) / (self.resid_sw + k0),
                0.05,
                25.0,
            )
        )
        f = cfg.feature_forgetting
        self.reg_A *= f
        self.reg_c *= f
        self.resid_s2 *= f
        self.resid_sw *= f
        self._eff = None

    # ------------------------------------------------------------------ state
    def state_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Arrays of the state dict (copies)."""
        scalars = np.array(
            [self.theta0, self.var0, self.resid_sw, self.resid_s2, self.resid_var]
        )
        return {
            "category": self.category.copy(),
            "X": self.X.copy(),
            "diff_mean": self.diff_mean.copy(),
            "diff_prec": self.diff_prec.copy(),
            "delta": self.delta.copy(),
            "delta_var": self.delta_var.copy(),
            "pend_g": self.pend_g.copy(),
            "pend_h": self.pend_h.copy(),
            "reg_A": self.reg_A.copy(),
            "reg_c": self.reg_c.copy(),
            "reg_w": self.reg_w.copy(),
            "scalars": scalars,
        }

    @staticmethod
    def check_state(arrays: dict[str, npt.NDArray[Any]], n: int, f: int) -> None:
        """Raise :class:`StateError` unless ``arrays`` fit ``n`` items with ``f`` features."""
        spec: dict[str, tuple[tuple[int, ...], str]] = {
            "category": ((n,), "i"),
            "X": ((n, f), "f"),
            "diff_mean": ((n,), "f"),
            "diff_prec": ((n,), "f"),
            "reg_A": ((f + 1, f + 1), "f"),
            "reg_c": ((f + 1,), "f"),
            "reg_w": ((f + 1,), "f"),
            "scalars": ((5,), "f"),
        }
        for key, (shape, kind) in spec.items():
            _expect(arrays, key, shape, kind)
        c = arrays["delta"].shape
        if len(c) != 1 or c[0] < 1:
            raise StateError("ability state 'delta' must be a non-empty 1-D array")
        for key in ("delta", "delta_var", "pend_g", "pend_h"):
            _expect(arrays, key, c, "f")
        if n and int(arrays["category"].max()) >= c[0]:
            raise StateError("ability state has a category id beyond its category slots")

    def load_arrays(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Load arrays already checked by :meth:`check_state`."""
        self.category = arrays["category"].astype(np.int32)
        self.X = arrays["X"].astype(np.float32)
        self.diff_mean = arrays["diff_mean"].astype(np.float32)
        self.diff_prec = arrays["diff_prec"].astype(np.float32)
        self.n = int(self.category.shape[0])
        for key in ("delta", "delta_var", "pend_g", "pend_h", "reg_A", "reg_c", "reg_w"):
            setattr(self, key, arrays[key].astype(np.float64))
        s = arrays["scalars"].astype(np.float64)
        self.theta0, self.var0 = float(s[0]), float(s[1])
        self.resid_sw, self.resid_s2, self.resid_var = float(s[2]), float(s[3]), float(s[4])
        self._eff = None


def _expect(arrays: dict[str, npt.NDArray[Any]], key: str, shape: tuple[int, ...],
            kind: str) -> None:
    if key not in arrays:
        raise StateError(f"state is missing array {key!r}")
    arr = arrays[key]
    if arr.shape != shape:
        raise StateError(f"state array {key!r} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind not in (kind + ("iu" if kind == "i" else "")):
        raise StateError(f"state array {key!r} has dtype {arr.dtype}, expected kind {kind!r}")
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise StateError(f"state array {key!r} contains NaN or inf")
