"""The rollout-batch record every monitor reads: one validated row per sampled completion.

What it is: ``RolloutBatch``, a frozen record of flat per-rollout arrays (N = B groups x G
samples, groups may be ragged), validated once at construction, plus ``from_groups`` to build it
from (B, G) arrays. It is cheap to fill from the lab's, TRL's and verl's batches: every field is
something those trainers already hold (rewards, decoded text, token ids, per-token log-probs
with a completion mask). What it is not: a trainer batch (no tensors, no prompts' token ids) nor
a place for metrics — monitors compute those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from zpd.monitors.errors import MonitorInputError

_TOKEN_FIELDS = ("logprobs", "base_logprobs", "token_entropy")


@dataclass(frozen=True, eq=False)
class RolloutBatch:
    """One training step's rollouts, one row per completion (N rows).

    Rows sharing a ``group`` value form one GRPO group (the G samples of one prompt); one item
    may appear in several groups. Token-level fields are stored padded, shape (N, T), with one
    shared ``token_mask``; they may be given ragged (a list of N 1-D arrays) or padded (with a
    ``token_mask``, or with ``lengths`` marking the first ``lengths[i]`` tokens valid). Arrays are
    copied and made read-only. Bad input raises ``MonitorInputError``.
    """

    item_ids: Any
    """(N,) int item id of each rollout's prompt."""
    group: Any
    """(N,) int group index: rows with the same value are samples of one prompt in one group."""
    rewards: Any
    """(N,) float reward in [0, 1] (binary or fractional)."""
    completions: Sequence[str]
    """(N,) decoded completion text."""
    answers: Sequence[str | None]
    """(N,) extracted final answer, ``None`` when none could be extracted."""
    lengths: Any = None
    """(N,) int completion length in tokens; defaults to the lengths of ``completion_ids``."""
    truncated: Any = None
    """(N,) bool: hit the generation limit without finishing (None: unknown)."""
    completion_ids: Any = None
    """Optional token ids: ragged list of N int arrays, or padded (N, T) cut at ``lengths``."""
    logprobs: Any = None
    """Optional per-token log-probs of the sampled tokens under the sampling policy (N, T)."""
    base_logprobs: Any = None
    """Optional per-token log-probs of the same tokens under the frozen base model (N, T)."""
    token_entropy: Any = None
    """Optional exact per-token entropy of the policy's next-token distribution (N, T), nats."""
    token_mask: Any = None
    """(N, T) bool mask of valid tokens for the padded token fields (default: from lengths)."""
    formats: Sequence[str] | None = None
    """Optional (N,) format label of each completion (e.g. ``direct``, ``scratchpad``)."""
    prompts: Sequence[str] | None = None
    """Optional (N,) prompt text (used to detect answers that echo an input span)."""
    targets: Sequence[str | None] | None = None
    """Optional (N,) reference answer of each rollout's item (calibrates repetition nulls)."""
    advantages: Any = None
    """Optional (N,) advantages the trainer used; default: GRPO's group-normalised rewards."""

    def __post_init__(self) -> None:
        n = self._check_core()
        ids = self.completion_ids
        if ids is not None:
            ids = _ragged_ids(ids, n, self.lengths)
            object.__setattr__(self, "completion_ids", ids)
        if self.lengths is None:
            if ids is None:
                raise MonitorInputError("RolloutBatch needs lengths (N,) or completion_ids")
            object.__setattr__(self, "lengths", _frozen(np.array([len(r) for r in ids])))
        lengths = _int_array(self.lengths, n, "lengths")
        if np.any(lengths < 0):
            raise MonitorInputError("lengths must be >= 0 (tokens per completion)")
        object.__setattr__(self, "lengths", _frozen(lengths))
        if self.truncated is not None:
            object.__setattr__(self, "truncated", _frozen(_bool_array(self.truncated, n)))
        if self.advantages is not None:
            adv = np.array(self.advantages, dtype=np.float64).reshape(-1)
            if adv.shape != (n,) or not np.all(np.isfinite(adv)):
                raise MonitorInputError(f"advantages must be {n} finite floats, got {adv.shape}")
            object.__setattr__(self, "advantages", _frozen(adv))
        for name, allow_none in (("formats", False), ("prompts", False), ("targets", True)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _strings(value, n, name, allow_none))
        self._check_tokens(n, lengths)

    def _check_core(self) -> int:
        item_ids = np.array(self.item_ids).reshape(-1)
        n = item_ids.shape[0]
        if n == 0:
            raise MonitorInputError("a rollout batch needs at least one rollout")
        item_ids = _int_array(item_ids, n, "item_ids")
        if np.any(item_ids < 0):
            raise MonitorInputError("item_ids must be non-negative ints")
        group = _int_array(self.group, n, "group")
        rewards = np.array(self.rewards, dtype=np.float64).reshape(-1)
        if rewards.shape != (n,):
            raise MonitorInputError(f"rewards has {rewards.shape[0]} entries; expected {n}")
        if not np.all(np.isfinite(rewards)) or np.any((rewards < 0) | (rewards > 1)):
            raise MonitorInputError("rewards must be finite and in [0, 1]; rescale them first")
        _, first, codes = np.unique(group, return_index=True, return_inverse=True)
        if np.any(item_ids != item_ids[first][codes]):
            raise MonitorInputError("every row of one group must have the same item id")
        for name, arr in (("item_ids", item_ids), ("group", group), ("rewards", rewards)):
            object.__setattr__(self, name, _frozen(arr))
        object.__setattr__(self, "completions", _strings(self.completions, n, "completions", False))
        object.__setattr__(self, "answers", _strings(self.answers, n, "answers", True))
        return n

    def _check_tokens(self, n: int, lengths: np.ndarray) -> None:
        mask = None if self.token_mask is None else np.array(self.token_mask, dtype=bool)
        given = [f for f in _TOKEN_FIELDS if getattr(self, f) is not None]
        if mask is not None and not given:
            raise MonitorInputError("token_mask given without logprobs/base_logprobs/token_entropy")
        for name in given:
            padded, m = _padded(getattr(self, name), n, lengths, mask, name)
            if mask is not None and m.shape != mask.shape:
                raise MonitorInputError(f"{name} has shape {m.shape}; other token fields {mask.shape}")
            if mask is not None and not np.array_equal(m, mask):
                raise MonitorInputError(f"{name} has a different set of valid tokens than the others")
            mask = m
            if name != "token_entropy" and np.any(padded[m] > 1e-6):
                raise MonitorInputError(f"{name} must be log-probabilities (<= 0)")
            if name == "token_entropy" and np.any(padded[m] < -1e-6):
                raise MonitorInputError("token_entropy must be >= 0 (nats)")
            object.__setattr__(self, name, _frozen(padded))
        if mask is not None:
            object.__setattr__(self, "token_mask", _frozen(mask))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_groups(
        cls,
        item_ids: Any,
        rewards: Any,
        completions: Sequence[Sequence[str]],
        answers: Sequence[Sequence[str | None]],
        lengths: Any = None,
        *,
        prompts: Sequence[str] | None = None,
        targets: Sequence[str | None] | None = None,
        **per_rollout: Any,
    ) -> RolloutBatch:
        """Build from B groups of G rollouts: ``item_ids`` (B,), ``rewards`` (B, G).

        ``completions``/``answers``/``lengths``/``formats``/``truncated``/``advantages`` are
        (B, G); token fields (``logprobs``, ``base_logprobs``, ``token_entropy``,
        ``token_mask``) are (B, G, T); ``prompts``/``targets`` are per group (B,) and repeated.
        Rows are laid out group-major: row ``b*G + j`` is sample ``j`` of group ``b``.
        """
        ids = np.asarray(item_ids).reshape(-1)  # (B,)
        r = np.asarray(rewards, dtype=np.float64)
        if r.ndim != 2 or r.shape[0] != ids.shape[0]:
            raise MonitorInputError(f"rewards must be (B, G) with B={ids.shape[0]}, got {r.shape}")
        b, g = r.shape
        kw: dict[str, Any] = {}
        for key, value in per_rollout.items():
            if key not in _FLAT_KEYS:
                raise MonitorInputError(f"from_groups got unknown field {key!r}")
            kw[key] = None if value is None else _flatten(value, b, g, key)
        return cls(
            item_ids=np.repeat(ids, g),
            group=np.repeat(np.arange(b), g),
            rewards=r.reshape(-1),
            completions=_flatten(completions, b, g, "completions"),
            answers=_flatten(answers, b, g, "answers"),
            lengths=None if lengths is None else _flatten(lengths, b, g, "lengths"),
            prompts=None if prompts is None else _repeat(prompts, b, g, "prompts"),
            targets=None if targets is None else _repeat(targets, b, g, "targets"),
            **kw,
        )

    # ------------------------------------------------------------------ derived views
    @property
    def num_rollouts(self) -> int:
        """N, the number of rows."""
        return int(self.rewards.shape[0])

    @cached_property
    def group_codes(self) -> np.ndarray:
        """(N,) int64 in [0, num_groups): dense code of each row's group (sorted by group)."""
        return _frozen(np.unique(self.group, return_inverse=True)[1].reshape(-1).astype(np.int64))

    @property
    def num_groups(self) -> int:
        """B, the number of distinct groups."""
        return int(self.group_codes.max()) + 1

    @cached_property
    def group_sizes(self) -> np.ndarray:
        """(B,) rollouts per group."""
        return _frozen(np.bincount(self.group_codes, minlength=self.num_groups))

    @cached_property
    def group_item_ids(self) -> np.ndarray:
        """(B,) the item id of each group."""
        out = np.empty(self.num_groups, dtype=np.int64)
        out[self.group_codes] = self.item_ids
        return _frozen(out)

    def successes(self, threshold: float = 0.5) -> np.ndarray:
        """(N,) bool: reward >= threshold (a correct rollout for binary rewards)."""
        return np.asarray(self.rewards >= threshold)

    def group_mean(self, values: np.ndarray) -> np.ndarray:
        """(B,) mean of a per-row array within each group."""
        sums = np.bincount(self.group_codes, weights=values, minlength=self.num_groups)
        return np.asarray(sums / self.group_sizes)


_FLAT_KEYS = frozenset({"truncated", "formats", "advantages", "completion_ids", "token_mask",
                        *_TOKEN_FIELDS})


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _int_array(value: Any, n: int, name: str) -> np.ndarray:
    arr = np.array(value).reshape(-1)
    if arr.shape != (n,):
        raise MonitorInputError(f"{name} has {arr.shape[0]} entries; expected {n} (one per row)")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise MonitorInputError(f"{name} must hold ints, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _bool_array(value: Any, n: int) -> np.ndarray:
    arr = np.array(value).reshape(-1)
    if arr.shape != (n,):
        raise MonitorInputError(f"truncated has {arr.shape[0]} entries; expected {n}")
    if arr.dtype != bool and not (np.issubdtype(arr.dtype, np.integer) and np.isin(arr, (0, 1)).all()):
        raise MonitorInputError("truncated must be bools (or 0/1)")
    return arr.astype(bool)


def _strings(value: Any, n: int, name: str, allow_none: bool) -> tuple[Any, ...]:
    if isinstance(value, str):
        raise MonitorInputError(f"{name} must be a sequence of {n} strings, not one string")
    out = tuple(value)
    if len(out) != n:
        raise MonitorInputError(f"{name} has {len(out)} entries; expected {n} (one per row)")
    for v in out:
        if not (isinstance(v, str) or (allow_none and v is None)):
            kind = "str or None" if allow_none else "str"
            raise MonitorInputError(f"{name} entries must be {kind}, got {type(v).__name__}")
    return out


def _ragged_ids(value: Any, n: int, lengths: Any) -> tuple[np.ndarray, ...]:
    if isinstance(value, np.ndarray) and value.ndim == 2:
        if lengths is None:
            raise MonitorInputError("padded completion_ids (N, T) need lengths to cut the padding")
        cut = _int_array(lengths, n, "lengths")
        rows = [value[i, : cut[i]] for i in range(value.shape[0])]
    else:
        rows = list(value)
    if len(rows) != n:
        raise MonitorInputError(f"completion_ids has {len(rows)} rows; expected {n}")
    out = []
    for r in rows:
        arr = np.array(r).reshape(-1)
        if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
            raise MonitorInputError("completion_ids must hold int token ids")
        out.append(_frozen(arr.astype(np.int64)))
    return tuple(out)


def _padded(value: Any, n: int, lengths: np.ndarray, mask: np.ndarray | None,
            name: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) float64 with masked-out entries zeroed, and its (N, T) bool mask."""
    if isinstance(value, np.ndarray) and value.ndim == 2 or _is_2d_tensorlike(value):
        arr = np.array(value, dtype=np.float64)
        if arr.shape[0] != n:
            raise MonitorInputError(f"{name} has {arr.shape[0]} rows; expected {n}")
        if mask is None:
            if arr.shape[1] < lengths.max():
                raise MonitorInputError(f"{name} has {arr.shape[1]} columns < max length; "
                                        "pass token_mask")
            mask = np.arange(arr.shape[1])[None, :] < lengths[:, None]  # (N, T)
    else:
        rows = [np.array(r, dtype=np.float64).reshape(-1) for r in value]
        if len(rows) != n:
            raise MonitorInputError(f"{name} has {len(rows)} rows; expected {n}")
        t = max((r.size for r in rows), default=0)
        arr = np.zeros((n, t))
        new_mask = np.zeros((n, t), dtype=bool)
        for i, r in enumerate(rows):
            arr[i, : r.size], new_mask[i, : r.size] = r, True
        mask = new_mask
    if mask.shape != arr.shape:
        raise MonitorInputError(f"token_mask has shape {mask.shape}; {name} has {arr.shape}")
    if not np.all(np.isfinite(arr[mask])):
        raise MonitorInputError(f"{name} has non-finite values on valid tokens")
    return np.where(mask, arr, 0.0), mask


def _is_2d_tensorlike(value: Any) -> bool:
    return hasattr(value, "shape") and len(getattr(value, "shape", ())) == 2


def _flatten(value: Any, b: int, g: int, name: str) -> Any:
    if isinstance(value, np.ndarray) or hasattr(value, "shape"):
        arr = np.asarray(value)
        if arr.shape[:2] != (b, g):
            raise MonitorInputError(f"{name} must be (B, G)=({b}, {g}), got {arr.shape}")
        return arr.reshape((b * g, *arr.shape[2:]))
    rows = list(value)
    if len(rows) != b or any(len(r) != g for r in rows):
        raise MonitorInputError(f"{name} must be {b} groups of {g} entries each")
    return [x for r in rows for x in r]


def _repeat(value: Sequence[Any], b: int, g: int, name: str) -> list[Any]:
    vals = list(value)
    if len(vals) != b:
        raise MonitorInputError(f"{name} must have one entry per group ({b}), got {len(vals)}")
    return [v for v in vals for _ in range(g)]
