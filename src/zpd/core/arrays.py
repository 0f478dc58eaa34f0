"""Small array primitives the core needs fast: unique ids, top-k, random candidate pools.

``np.unique`` on integers and ``np.argpartition`` on heavily tied scores are several times
slower than the sort-based and tie-broken versions here, which matters at 10M items with a
10 ms budget per round. No model logic lives here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["append_rows", "random_pool", "top_k", "unique_inverse", "unique_sorted"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def unique_sorted(a: I64) -> I64:
    """Sorted unique values of a 1-D integer array."""
    if a.size == 0:
        return a.copy()
    s = np.sort(a)
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    out: I64 = s[keep]
    return out


def unique_inverse(a: I64) -> tuple[I64, npt.NDArray[np.intp]]:
    """Sorted unique values of ``a`` and, per element, the index of its value in them."""
    if a.size == 0:
        return a.copy(), np.zeros(0, dtype=np.intp)
    order = np.argsort(a, kind="stable")
    s = a[order]
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    inverse = np.empty(a.size, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    out: I64 = s[new]
    return out, inverse


def top_k(scores: F64, k: int) -> npt.NDArray[np.intp]:
    """Indices of the k largest scores (unordered); all indices if k >= len.

    Break ties before calling (ties make ``argpartition`` several times slower).
    """
    if k >= scores.shape[0]:
        return np.arange(scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    return np.argpartition(-scores, k - 1)[:k]


def random_pool(rng: np.random.Generator, num_items: int, m: int) -> I64:
    """``min(m, num_items)`` unique random ids, in random order; O(m)."""
    if m >= num_items:
        return rng.permutation(num_items).astype(np.int64)
    out: I64 = rng.choice(num_items, size=m, replace=False).astype(np.int64)
    return out


def append_rows(view: npt.NDArray[Any], extra: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``concatenate([view, extra])`` with amortised O(len(extra)) cost.

    ``view`` is returned from an earlier call as the leading rows of a larger buffer; while
    the buffer has room the new rows are written in place, otherwise it grows by 1.5x.
    """
    n, m = view.shape[0], extra.shape[0]
    base = view.base
    if (isinstance(base, np.ndarray) and base.dtype == view.dtype and base.ndim == view.ndim
            and base.shape[1:] == view.shape[1:] and base.shape[0] >= n + m
            and base.flags.c_contiguous and base.ctypes.data == view.ctypes.data):
        base[n:n + m] = extra
        return base[: n + m]
    cap = max(n + m, n + n // 2 + 16)
    buf = np.empty((cap,) + view.shape[1:], dtype=view.dtype)
    buf[:n] = view
    buf[n:n + m] = extra
    return buf[: n + m]
