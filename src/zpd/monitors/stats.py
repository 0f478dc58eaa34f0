"""Small exact statistics the monitors test with, in numpy (no scipy at run time).

What it is: binomial upper tails, a one-sided Fisher exact test, Spearman's rank correlation with
a Fisher-z p-value, the normal tail, entropy of counts, a least-squares slope, and alpha spending
over repeated looks. What it is not: a general statistics library — only what the monitors'
documented tests need; tests cross-check these against scipy.
"""

from __future__ import annotations

import math

import numpy as np


def _log_factorials(n: int) -> np.ndarray:
    """(n+1,) log(k!) for k = 0..n."""
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.sum(np.exp(x - m))))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), computed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lf = _log_factorials(n)
    j = np.arange(k, n + 1)
    logpmf = lf[n] - lf[j] - lf[n - j] + j * math.log(p) + (n - j) * math.log1p(-p)
    return min(1.0, math.exp(_logsumexp(logpmf)))


def fisher_less(s1: int, n1: int, s0: int, n0: int) -> float:
    """One-sided Fisher exact p-value that sample 1's success rate is below sample 0's.

    Conditional on the total successes, sample 1's successes are hypergeometric; the p-value is
    P(X <= s1). Equals ``scipy.stats.fisher_exact([[s1, n1-s1], [s0, n0-s0]], 'less')``.
    """
    if not (0 <= s1 <= n1 and 0 <= s0 <= n0) or n1 == 0 or n0 == 0:
        raise ValueError("fisher_less needs 0 <= successes <= trials and trials > 0")
    total, k = n1 + n0, s1 + s0
    lf = _log_factorials(total)
    lo = max(0, k - n0)
    x = np.arange(lo, s1 + 1)  # (m,)
    log_comb = (lf[n1] - lf[x] - lf[n1 - x]) + (lf[n0] - lf[k - x] - lf[n0 - k + x])
    log_p = log_comb - (lf[total] - lf[k] - lf[total - k])
    return min(1.0, math.exp(_logsumexp(log_p)))


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def rankdata(x: np.ndarray) -> np.ndarray:
    """(n,) ranks 1..n with ties given their average rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.arange(1, x.size + 1)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv.reshape(-1), weights=ranks)
    return np.asarray(sums[inv] / counts[inv])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of two (n,) arrays; NaN when n < 3 or either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    rx, ry = rankdata(x) - (x.size + 1) / 2, rankdata(y) - (y.size + 1) / 2
    return float(np.sum(rx * ry) / math.sqrt(float(np.sum(rx**2) * np.sum(ry**2))))


def spearman_z(rho: float, n: int) -> float:
    """Fisher-z statistic of a Spearman rho: atanh(rho) / se, se = sqrt(1.06 / (n - 3)).

    The 1.06 variance inflation is Fieller, Hartley & Pearson (1957) for Spearman's rho.
    """
    if n <= 3 or not math.isfinite(rho):
        return math.nan
    r = min(max(rho, -0.999999), 0.999999)
    return math.atanh(r) / math.sqrt(1.06 / (n - 3))


def spearman_diff_pvalue(r1: float, n1: int, r2: float, n2: int) -> float:
    """One-sided p-value that rho1 > rho2 (independent samples), by Fisher z."""
    if min(n1, n2) <= 3 or not (math.isfinite(r1) and math.isfinite(r2)):
        return math.nan
    z1 = math.atanh(min(max(r1, -0.999999), 0.999999))
    z2 = math.atanh(min(max(r2, -0.999999), 0.999999))
    se = math.sqrt(1.06 / (n1 - 3) + 1.06 / (n2 - 3))
    return normal_sf((z1 - z2) / se)


def entropy(counts: np.ndarray) -> float:
    """Shannon entropy (nats) of the distribution proportional to ``counts``."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    if c.size == 0:
        return 0.0
    p = c / c.sum()
    return max(0.0, float(-np.sum(p * np.log(p))))


def ols_slope(y: np.ndarray) -> float:
    """Least-squares slope of ``y`` against 0..n-1 (per step); NaN when n < 2."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        return math.nan
    x = np.arange(y.size, dtype=np.float64) - (y.size - 1) / 2
    return float(np.sum(x * (y - y.mean())) / np.sum(x**2))


def spent_alpha(alpha: float, look: int) -> float:
    """Share of a family-wise ``alpha`` spent on the ``look``-th test (1-based).

    ``alpha * 6 / (pi^2 * look^2)`` sums to ``alpha`` over infinitely many looks, so by the union
    bound the chance of any false alert over a whole run stays below ``alpha``.
    """
    if look < 1:
        raise ValueError("look is 1-based")
    return alpha * 6.0 / (math.pi**2 * look**2)
