"""Validation of user input at the edge of the core: ids, rewards, features, sizes.

Each check returns a clean numpy array (or raises a :class:`~zpd.core.errors.ZpdError`
subclass naming the problem) and never mutates anything, so callers can validate everything
before they change state. This module holds no model logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from zpd.core.errors import FeatureError, IdError, RewardError, SampleSizeError

__all__ = ["check_count", "check_features", "check_ids", "check_rewards", "CATEGORY"]

CATEGORY = "category"
"""Name of the categorical feature (an integer array of relation types / skill ids)."""

_MAX_CATEGORIES = 1 << 20


def check_count(n: object, what: str, *, minimum: int = 1) -> int:
    """Return ``n`` as an int >= minimum, or raise."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise SampleSizeError(f"{what} must be an integer, got {type(n).__name__} {n!r}")
    if int(n) < minimum:
        raise SampleSizeError(f"{what} must be >= {minimum}, got {int(n)}")
    return int(n)


def check_ids(ids: object, num_items: int) -> npt.NDArray[np.int64]:
    """Return ids as a 1-D int64 array, each in [0, num_items), or raise :class:`IdError`."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise IdError(f"ids must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise IdError(f"ids must be integers, got dtype {arr.dtype}; pass the ids sample() returned")
    out = arr.astype(np.int64, copy=True)
    lo, hi = int(out.min()), int(out.max())
    if lo < 0:
        raise IdError(f"ids must be non-negative, got {lo}")
    if hi >= num_items:
        raise IdError(
            f"unknown item id {hi}: the curriculum has {num_items} items (ids 0..{num_items - 1}); "
            "call add_items() first for new items"
        )
    return out


def check_rewards(rewards: object, num_ids: int) -> npt.NDArray[np.float64]:
    """Return rewards as a (num_ids, G) float64 array of finite values in [0, 1], or raise."""
    try:
        arr = np.array(rewards, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RewardError(f"rewards must be a numeric (len(ids), G) array: {exc}") from exc
    if arr.ndim != 2:
        raise RewardError(
            f"rewards must be 2-D (len(ids), G) = ({num_ids}, G), got shape {arr.shape}; "
            "one row per id, one column per rollout"
        )
    if arr.shape[0] != num_ids:
        raise RewardError(f"rewards has {arr.shape[0]} rows but there are {num_ids} ids")
    if arr.shape[1] < 1:
        raise RewardError("rewards must have at least one column (rollout) per id")
    if not np.all(np.isfinite(arr)):
        raise RewardError("rewards contain NaN or inf; every reward must be a finite number in [0, 1]")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise RewardError(
            f"rewards must lie in [0, 1], got range [{arr.min():g}, {arr.max():g}]; "
            "rescale them (e.g. (r - min) / (max - min)) before update()"
        )
    return arr


def _check_category(values: npt.NDArray[Any], n: int) -> npt.NDArray[np.int32]:
    """Validate the categorical feature: non-negative integers below 2**20."""
    if values.ndim != 1 or values.shape[0] != n:
        raise FeatureError(f"feature 'category' must have shape ({n},), got {values.shape}")
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
        raise FeatureError(
            f"feature 'category' must be an integer array (a category id per item), "
            f"got dtype {values.dtype}"
        )
    if n and (values.min() < 0 or values.max() >= _MAX_CATEGORIES):
        raise FeatureError(
            f"feature 'category' values must lie in [0, {_MAX_CATEGORIES}), "
            f"got [{values.min()}, {values.max()}]"
        )
    return values.astype(np.int32)


def check_features(
    features: Mapping[str, object] | None,
    n: int,
    expected_names: tuple[str, ...] | None = None,
) -> tuple[npt.NDArray[np.int32] | None, dict[str, npt.NDArray[np.float64]]]:
    """Validate a feature dict for ``n`` items.

    Returns ``(category, numeric)``: the int32 category array (or None) and the numeric
    features as float64 arrays of shape (n,) or (n, d); NaN marks a missing value, inf is an
    error. ``expected_names`` (for add_items) requires exactly the names given at construction.
    """
    if features is None:
        features = {}
    if not isinstance(features, Mapping):
        raise FeatureError(f"features must be a dict name -> array, got {type(features).__name__}")
    names = tuple(sorted(str(k) for k in features))
    if expected_names is not None and names != expected_names:
        raise FeatureError(
            f"features must have exactly the names given at construction {list(expected_names)}, "
            f"got {list(names)}"
        )
    category: npt.NDArray[np.int32] | None = None
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    for name, raw in features.items():
        if not isinstance(name, str) or not name:
            raise FeatureError(f"feature names must be non-empty strings, got {name!r}")
        values = np.asarray(raw)
        if name == CATEGORY and values.dtype.kind in "iuf":
            # float ids (a column that went through a float dtype) must be whole numbers
            if values.dtype.kind == "f" and values.ndim == 1 and values.shape[0] == n:
                bad = ~np.isfinite(values) | (values != np.round(values))
                if np.any(bad):
                    i = int(np.flatnonzero(bad)[0])
                    raise FeatureError(
                        f"feature 'category' must hold whole category ids; item {i} has "
                        f"{float(values[i])} ({int(bad.sum())} such items). Give missing categories "
                        "an id of their own, or pass the column as integers")
                values = values.astype(np.int64)
            category = _check_category(values, n)
            continue
        if values.ndim not in (1, 2) or values.shape[0] != n:
            raise FeatureError(
                f"feature {name!r} must have length {n} (one value per item), got shape {values.shape}"
            )
        if values.dtype.kind not in "biuf":
            raise FeatureError(f"feature {name!r} must be numeric, got dtype {values.dtype}")
        vals = values.astype(np.float64)
        if np.any(np.isinf(vals)):
            raise FeatureError(f"feature {name!r} contains inf; use NaN for a missing value")
        numeric[name] = vals
    return category, numeric
