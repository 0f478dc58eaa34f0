"""Coverage of recent draws: which ids were drawn in the last few rounds, and how often.

A curriculum that always picks the most informative prompts tends to pick the *same* prompts:
in a TRL run of 300 prompts, 8 per draw, the zpd policy of release 0.1 shared 7-8 of every
draw's 8 prompts with the previous draw and saw 28-39 distinct prompts in 240 picks. A prompt
trained that often is memorised, not learned from, and its pass rate stops saying anything about
ability. :class:`RecentDraws` is the memory both the repeat cap of the zpd policy and the
``curriculum/*`` coverage metrics read: the unique ids of the last ``window`` draws, oldest
first, O(window * batch) memory, never O(num_items).

This module holds no policy logic and draws no random numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zpd.core.arrays import unique_sorted
from zpd.core.errors import StateError

__all__ = ["RecentDraws"]

I64 = npt.NDArray[np.int64]


class RecentDraws:
    """The unique ids of each of the last ``window`` draws (``window`` = 0 keeps nothing)."""

    def __init__(self, window: int) -> None:
        self.window = int(window)
        self.draws: list[I64] = []
        self._sorted: I64 = np.zeros(0, dtype=np.int64)  # every kept id, sorted (repeats kept)

    def push(self, ids: I64) -> None:
        """Remember one draw; forget the oldest beyond ``window``."""
        if self.window == 0:
            return
        self.draws.append(unique_sorted(np.asarray(ids, dtype=np.int64)))
        del self.draws[:-self.window]
        self._sorted = np.sort(np.concatenate(self.draws))

    def counts(self, ids: I64) -> I64:
        """In how many of the remembered draws each id appears (O(len(ids) log))."""
        s = self._sorted
        out: I64 = (np.searchsorted(s, ids, side="right")
                    - np.searchsorted(s, ids, side="left")).astype(np.int64)
        return out

    def distinct(self) -> int:
        """Distinct ids over the remembered draws."""
        return int(unique_sorted(self._sorted).size)

    def max_repeats(self) -> int:
        """The most remembered draws any one id appears in (0 when none)."""
        s = self._sorted
        if s.size == 0:
            return 0
        edges = np.flatnonzero(np.diff(s)) + 1
        return int(np.diff(np.concatenate([[0], edges, [s.size]])).max())

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """Arrays to save: the draws concatenated, and each draw's length."""
        ids = np.concatenate(self.draws) if self.draws else np.zeros(0, dtype=np.int64)
        return {"ids": ids.astype(np.int64),
                "lens": np.array([d.size for d in self.draws], dtype=np.int64)}

    @staticmethod
    def check_state(arrays: dict[str, npt.NDArray[Any]], prefix: str, num_items: int,
                    window: int) -> None:
        """Raise :class:`StateError` unless ``arrays`` is :meth:`state` output that fits."""
        ids, lens = arrays.get(f"{prefix}ids"), arrays.get(f"{prefix}lens")
        if ids is None or lens is None or ids.ndim != 1 or lens.ndim != 1:
            raise StateError(f"state needs 1-D arrays '{prefix}ids' and '{prefix}lens'")
        if (ids.size and ids.dtype.kind not in "iu") or (lens.size and lens.dtype.kind not in "iu"):
            raise StateError(f"state arrays '{prefix}ids' and '{prefix}lens' must be integers")
        if lens.size > window or (lens.size and lens.min() < 0) or int(lens.sum()) != ids.size:
            raise StateError(f"state array '{prefix}lens' does not describe '{prefix}ids'")
        if ids.size and (ids.min() < 0 or ids.max() >= num_items):
            raise StateError(f"state array '{prefix}ids' holds ids outside [0, {num_items})")

    def load_state(self, arrays: dict[str, npt.NDArray[Any]], prefix: str) -> None:
        """Restore :meth:`state` output (already checked)."""
        ids = arrays[f"{prefix}ids"].astype(np.int64)
        lens = arrays[f"{prefix}lens"].astype(np.int64)
        self.draws = [np.asarray(d) for d in np.split(ids, np.cumsum(lens)[:-1])] if lens.size \
            else []
        self._sorted = np.sort(ids)
