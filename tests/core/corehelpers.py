"""Helpers shared by the core tests (a unique module name: tests have no packages)."""

from __future__ import annotations

from typing import Any

import numpy as np


def same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True if two state dicts hold equal headers and bit-identical arrays."""
    if a["header"] != b["header"] or set(a["arrays"]) != set(b["arrays"]):
        return False
    return all(
        a["arrays"][k].dtype == b["arrays"][k].dtype
        and np.array_equal(a["arrays"][k], b["arrays"][k], equal_nan=True)
        for k in a["arrays"]
    )


def rollout(p: np.ndarray, ids: np.ndarray, g: int, rng: np.random.Generator) -> np.ndarray:
    """(len(ids), g) binary rewards from true pass rates p."""
    return (rng.random((ids.size, g)) < p[ids, None]).astype(np.float64)
