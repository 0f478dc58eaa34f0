"""A host's rewards on the curriculum's [0, 1] scale, the same way in every shim.

What it is: :func:`to_unit`, the linear map of a reward range (``reward_range`` in the TRL and
verl options) onto [0, 1] with the one tolerance every shim allows, and the mask of the values
that fall outside it; each shim words its own error, naming its own option. What it is not: a
check of the range itself (the options classes validate low < high).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TOLERANCE = 1e-6
"""How far past the range (on the [0, 1] scale) a reward may fall from float error alone."""


def to_unit(values: np.ndarray | Sequence[float], reward_range: tuple[float, float]
            ) -> tuple[np.ndarray, np.ndarray]:
    """``(values - low) / (high - low)`` clipped to [0, 1], and the mask of values outside the
    range by more than :data:`TOLERANCE` (infinities included). NaN stays NaN and is not in the
    mask: whether an unscored value is an error is the shim's call."""
    lo, hi = reward_range
    x = (np.asarray(values, dtype=np.float64) - lo) / (hi - lo)
    outside = ~np.isnan(x) & ((x < -TOLERANCE) | (x > 1 + TOLERANCE))
    return np.clip(x, 0.0, 1.0), outside
