"""Selection policies: the ``zpd`` policy and the baselines, all under one contract.

A policy picks the ids to roll out next from an :class:`ItemView` (read-only access to the
curriculum's posteriors, O(len(ids)) per call) and the curriculum's random generator, and may
keep its own per-item state, updated in :meth:`Policy.observe`. Every policy here samples
unique ids and costs O(batch) per call, except :class:`Oracle` over the whole pool (O(N), by
design: it is an upper bound for simulations). This module holds no I/O and no posterior
arithmetic beyond what a policy's paper prescribes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from zpd.core.arrays import append_rows, random_pool, top_k, unique_sorted
from zpd.core.config import (
    CurriculumConfig,
    GresoConfig,
    LearnabilityConfig,
    MoppsConfig,
    PolicyName,
    StaticConfig,
    ZpdPolicyConfig,
)
from zpd.core.coverage import RecentDraws
from zpd.core.errors import ConfigError, FeatureError, StateError, ZpdError
from zpd.core.tracker import beta_cdf, beta_moments, prob_mixed

__all__ = [
    "Dapo",
    "Greso",
    "ItemRead",
    "ItemView",
    "Learnability",
    "Mopps",
    "Observation",
    "Oracle",
    "Policy",
    "Selection",
    "Static",
    "Uniform",
    "ZpdPolicy",
    "make_policy",
    "quarantine_mask",
    "random_pool",
    "top_k",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Arrays = dict[str, npt.NDArray[Any]]
Meta = dict[str, Any]


@dataclass(frozen=True)
class ItemRead:
    """Posterior of some ids at the current round: Beta(a, b), prediction, observed flag."""

    a: F64  # (M,)
    b: F64  # (M,)
    predicted: F64  # (M,) ability model's pass-rate prediction (the posterior's prior mean)
    strength: F64  # (M,) pseudo-counts that prediction is worth as a Beta prior
    tail: F64  # (M,) posterior probability that the item is near-impossible (mixture)
    seen: npt.NDArray[np.bool_]  # (M,)


class ItemView(Protocol):
    """What a policy may read from the curriculum; every call is O(len(ids))."""

    @property
    def num_items(self) -> int: ...
    @property
    def group_size(self) -> int: ...
    @property
    def drift_pressure(self) -> float: ...
    def read(self, ids: I64) -> ItemRead:
        """Posterior of each id now (decayed toward the ability model's prediction)."""
        ...


@dataclass(frozen=True)
class Selection:
    """Result of :meth:`Policy.select`: ids to roll out (unique), and which are anchors."""

    ids: I64
    anchors: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class Observation:
    """One update's outcomes per unique item (sorted ids): reward sums, rollouts, extremes."""

    ids: I64  # (U,)
    k: F64  # (U,) sum of rewards
    n: F64  # (U,) rollouts
    rmin: F64  # (U,)
    rmax: F64  # (U,)
    sq: F64  # (U,) sum of squared rewards

    @property
    def all_correct(self) -> npt.NDArray[np.bool_]:
        """Zero-variance groups at the top (every rollout got reward 1)."""
        out: npt.NDArray[np.bool_] = (self.rmin == self.rmax) & (self.rmin >= 0.5)
        return out

    @property
    def all_wrong(self) -> npt.NDArray[np.bool_]:
        """Zero-variance groups at the bottom."""
        out: npt.NDArray[np.bool_] = (self.rmin == self.rmax) & (self.rmin < 0.5)
        return out


@runtime_checkable
class Policy(Protocol):
    """Interface every selection policy implements."""

    name: PolicyName
    requires_post_filter: bool

    def configure(self, cfg: CurriculumConfig) -> None:
        """Take this policy's section of ``cfg`` unless it was given one at construction."""
        ...
    def bind(self, num_items: int, numeric: dict[str, F64], cfg: CurriculumConfig) -> None:
        """Configure and size per-item state for ``num_items`` items (called once)."""
        ...
    def add_items(self, n: int, numeric: dict[str, F64]) -> None:
        """Grow per-item state by ``n`` new items (features already validated)."""
        ...
    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        """Pick ``n`` unique ids."""
        ...
    def observe(self, obs: Observation) -> None:
        """Learn from one update's outcomes."""
        ...
    def state(self) -> tuple[Arrays, Meta]:
        """Per-item arrays and JSON-able scalars to save."""
        ...
    def check_state(self, arrays: Arrays, meta: Meta, num_items: int) -> None:
        """Raise :class:`StateError` unless ``state()`` output fits ``num_items`` items."""
        ...
    def load_state(self, arrays: Arrays, meta: Meta) -> None:
        """Restore output of :meth:`state` (already checked)."""
        ...


# --------------------------------------------------------------------------- helpers
def quarantine_mask(r: ItemRead, mean: F64, cfg: ZpdPolicyConfig) -> npt.NDArray[np.bool_]:
    """Observed items confidently near-impossible: P(p < threshold) >= confidence.

    Either the ability model's near-impossible component holds the item with that
    confidence, or the Beta posterior puts that much mass below the threshold.
    """
    out = r.seen & (r.tail >= cfg.quarantine_confidence)
    low = np.flatnonzero(r.seen & ~out & (mean < cfg.quarantine_threshold))  # pre-filter
    if low.size:
        cdf = beta_cdf(cfg.quarantine_threshold, r.a[low], r.b[low])
        out[low] = cdf >= cfg.quarantine_confidence
    return out


def _stochastic_round(x: float, rng: np.random.Generator) -> int:
    base = int(np.floor(x))
    return base + int(rng.random() < x - base)


class _Stateless:
    """Mixin for policies without per-item state."""

    def configure(self, cfg: CurriculumConfig) -> None:
        return None

    def bind(self, num_items: int, numeric: dict[str, F64], cfg: CurriculumConfig) -> None:
        return None

    def add_items(self, n: int, numeric: dict[str, F64]) -> None:
        return None

    def observe(self, obs: Observation) -> None:
        return None

    def state(self) -> tuple[Arrays, Meta]:
        return {}, {}

    def check_state(self, arrays: Arrays, meta: Meta, num_items: int) -> None:
        return None

    def load_state(self, arrays: Arrays, meta: Meta) -> None:
        return None


def _check_array(arrays: Arrays, key: str, n: int, kind: str) -> None:
    arr = arrays.get(key)
    if arr is None:
        raise StateError(f"policy state is missing array {key!r}")
    if arr.shape != (n,) or arr.dtype.kind != kind:
        raise StateError(
            f"policy state array {key!r} has shape {arr.shape} dtype {arr.dtype}, "
            f"expected ({n},) of kind {kind!r}"
        )


# --------------------------------------------------------------------------- zpd
_PRICE_STEP = 2.0  # dual-ascent step of the tail price per unit of budget overrun
_PRICE_MAX = 10.0  # the price never exceeds this (a pick's score is at most ~1.5)


class ZpdPolicy:
    """Most-likely-mixed groups under the posterior, with quarantine, probes and anchors.

    Score of a candidate: P(0 < successes < G | Beta posterior) (closed form,
    :func:`~zpd.core.tracker.prob_mixed`) + ``exploration`` * posterior sd * (1 - P(item is
    near-impossible)) + a first-visit bonus for never-observed items, first_visit * P(mixed) *
    clip(2 * visits per item - 1, 0, 1) (small pools: nothing is starved), times
    ``mean ** (drift_tilt * drift_pressure)``; with ``selection_temperature`` > 0 the picks are
    sampled in proportion to exp(score / T) instead of taken from the top. An item picked in
    the last ``repeat_window - 1`` draws ``repeat_cap`` times is capped (not read, not picked)
    unless the pool is too short, when capped regular items fill the draw, fewest recent picks
    first. Candidates are a random pool of
    ``pool_factor * n`` ids, a ring of the last ``frontier_factor * n`` ids whose group was
    informative (prompts informative once tend to stay so, arXiv 2506.02177) and a reservoir
    of mastered items (Vitter's Algorithm R over every item observed at or above
    ``mastery_threshold``), so a call is O(n). Observed items with P(p <
    ``quarantine_threshold``) >= ``quarantine_confidence`` are quarantined: they only take the
    ``probe_share`` of the batch, most promising (highest predicted pass rate) first, and leave
    quarantine on their own as the ability model's prediction rises (their posterior decays
    toward it). ``anchor_share`` of the batch (stochastically rounded) replays mastered items
    (posterior mean >= ``mastery_threshold``) as retention anchors, drawn at random.
    """

    name = PolicyName.ZPD
    requires_post_filter = False

    def __init__(self, config: ZpdPolicyConfig | None = None) -> None:
        self.cfg = config
        self.frontier: I64 = np.full(0, -1, dtype=np.int64)  # ring of recently informative ids
        self.pos = 0  # next write position in the ring
        self.pending: I64 = np.zeros(0, dtype=np.int64)  # this round's informative ids
        self.reservoir: I64 = np.full(0, -1, dtype=np.int64)  # (R,) mastered ids, -1 = empty
        self.offered = 0  # distinct mastered observations offered to the reservoir so far
        self.pend_mastered: I64 = np.zeros(0, dtype=np.int64)  # this round's mastered ids
        self.visits = 0  # ids selected so far (for the first-visit bonus)
        self.price = 0.0  # Lagrange multiplier of the tail budget
        self.recent = RecentDraws(0)  # the previous repeat_window - 1 draws (repeat cap)

    def configure(self, cfg: CurriculumConfig) -> None:
        if self.cfg is None:
            self.cfg = cfg.zpd

    def bind(self, num_items: int, numeric: dict[str, F64], cfg: CurriculumConfig) -> None:
        self.configure(cfg)
        assert self.cfg is not None
        self.frontier = np.full(0, -1, dtype=np.int64)
        self.pos = 0
        self.pending = np.zeros(0, dtype=np.int64)
        self.reservoir = np.full(self.cfg.anchor_reservoir, -1, dtype=np.int64)
        self.offered = 0
        self.pend_mastered = np.zeros(0, dtype=np.int64)
        self.visits = 0
        self.price = 0.0
        self.recent = RecentDraws(self.cfg.repeat_window - 1)

    def add_items(self, n: int, numeric: dict[str, F64]) -> None:
        return None

    def observe(self, obs: Observation) -> None:
        """Remember informative items (GRESO's temporal consistency) and mastered ones.

        Both join their rings at the next round boundary, in sorted order, so the order of
        this round's updates does not matter.
        """
        assert self.cfg is not None
        self.pending = np.concatenate([self.pending, obs.ids[obs.rmax > obs.rmin]])
        solved = obs.k >= self.cfg.mastery_threshold * obs.n
        self.pend_mastered = np.concatenate([self.pend_mastered, obs.ids[solved]])

    def _fold_pending(self) -> None:
        cap = self.frontier.shape[0]
        informative = unique_sorted(self.pending)[-cap:] if cap else self.pending[:0]
        self.pending = np.zeros(0, dtype=np.int64)
        if informative.size == 0:
            return
        slots = (self.pos + np.arange(informative.size)) % cap
        self.frontier[slots] = informative
        self.pos = int((self.pos + informative.size) % cap)

    def _fold_mastered(self, rng: np.random.Generator) -> None:
        """Offer this round's mastered ids to the reservoir (Algorithm R, Vitter 1985)."""
        cap = self.reservoir.shape[0]
        new = unique_sorted(self.pend_mastered)
        self.pend_mastered = np.zeros(0, dtype=np.int64)
        if cap == 0 or new.size == 0:
            return
        new = new[~np.isin(new, self.reservoir)]
        filled = min(self.offered, cap)
        take = min(cap - filled, new.size)
        self.reservoir[filled:filled + take] = new[:take]
        rest = new[take:]
        count = self.offered + take + 1 + np.arange(rest.size)  # 1-based offer index
        self.offered += int(new.size)
        if rest.size == 0:
            return
        slot = rng.integers(0, count)  # (R',) keep the i-th offer with probability cap / i
        keep = slot < cap
        slot, ids = slot[keep][::-1], rest[keep][::-1]
        _, last = np.unique(slot, return_index=True)  # a later offer replaces an earlier one
        self.reservoir[slot[last]] = ids[last]

    def _grow_frontier(self, n: int) -> None:
        assert self.cfg is not None
        cap = self.cfg.frontier_factor * n
        if cap > self.frontier.shape[0]:
            old = np.roll(self.frontier, -self.pos)  # oldest first
            self.frontier = np.concatenate([old, np.full(cap - old.shape[0], -1, np.int64)])
            self.pos = old.shape[0] % cap

    def state(self) -> tuple[Arrays, Meta]:
        arrays = {"frontier": self.frontier.copy(), "pending": self.pending.copy(),
                  "reservoir": self.reservoir.copy(), "pend_mastered": self.pend_mastered.copy()}
        arrays.update({f"recent_{k}": v for k, v in self.recent.state().items()})
        meta = {"pos": self.pos, "offered": self.offered, "visits": self.visits,
                "price": self.price}
        return arrays, meta

    def check_state(self, arrays: Arrays, meta: Meta, num_items: int) -> None:
        for key in ("frontier", "reservoir"):
            f = arrays.get(key)
            if f is None or f.ndim != 1 or (f.size and f.dtype.kind not in "iu"):
                raise StateError(f"zpd policy state needs a 1-D integer {key!r} array")
            if f.size and (f.min() < -1 or f.max() >= num_items):
                raise StateError(f"zpd policy {key!r} holds ids outside the item range")
        for key in ("pending", "pend_mastered"):
            p = arrays.get(key)
            if p is None or p.ndim != 1 or (p.size and (p.dtype.kind not in "iu" or p.min() < 0
                                                        or p.max() >= num_items)):
                raise StateError(f"zpd policy state needs a 1-D {key!r} array of item ids")
        assert self.cfg is not None
        RecentDraws.check_state(arrays, "recent_", num_items, self.cfg.repeat_window - 1)
        pos, size = meta.get("pos"), arrays["frontier"].size
        if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos <= max(size - 1, 0):
            raise StateError(f"zpd policy 'pos' must be an index into the frontier, got {pos!r}")
        for key in ("offered", "visits"):
            v = meta.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise StateError(f"zpd policy {key!r} must be a non-negative integer, got {v!r}")
        price = meta.get("price")
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not (
                0.0 <= price <= _PRICE_MAX):
            raise StateError(f"zpd policy 'price' must be in [0, {_PRICE_MAX}], got {price!r}")

    def load_state(self, arrays: Arrays, meta: Meta) -> None:
        self.frontier = arrays["frontier"].astype(np.int64)
        self.pending = arrays["pending"].astype(np.int64)
        self.reservoir = arrays["reservoir"].astype(np.int64)
        self.pend_mastered = arrays["pend_mastered"].astype(np.int64)
        self.pos, self.offered = int(meta["pos"]), int(meta["offered"])
        self.visits = int(meta["visits"])
        self.price = float(meta["price"])
        assert self.cfg is not None
        self.recent = RecentDraws(self.cfg.repeat_window - 1)
        self.recent.load_state(arrays, "recent_")

    def candidates(self, view: ItemView, n: int, rng: np.random.Generator) -> I64:
        """Random pool of pool_factor * n ids, the frontier ring and the mastered reservoir,
        without repeats, as two sorted runs (sorted gathers from the per-item arrays are ~2x
        faster than random ones at 10M items)."""
        assert self.cfg is not None
        self._grow_frontier(n)
        self._fold_pending()
        self._fold_mastered(rng)
        pool = np.sort(random_pool(rng, view.num_items, self.cfg.pool_factor * n))  # (M,)
        known = np.concatenate([self.frontier, self.reservoir])
        known = unique_sorted(known[known >= 0])  # (K,)
        if known.size == 0:
            return pool
        pos = np.minimum(np.searchsorted(known, pool), known.size - 1)
        fresh = pool[known[pos] != pool]  # pool ids not already known
        out: I64 = np.concatenate([fresh, known])
        return out

    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        cfg = self.cfg
        assert cfg is not None, "bind() first"
        pool = self.candidates(view, n, rng)  # (M,)
        repeats = self.recent.counts(pool)  # (M,) picks in the previous draws of the window
        free = repeats < cfg.repeat_cap if cfg.repeat_cap else np.ones(pool.shape[0], bool)
        if free.sum() >= 2 * n:  # capped candidates cannot be picked: do not read them
            pool, repeats, free = pool[free], repeats[free], free[free]
        r = view.read(pool)
        mean, sd = beta_moments(r.a, r.b)
        quarantined = quarantine_mask(r, mean, cfg)
        mastered = r.seen & (mean >= cfg.mastery_threshold)
        order = np.asarray(rng.random(pool.shape[0]), np.float64)  # tie-breaks, anchor order
        bonus = cfg.exploration * sd * (1.0 - r.tail)  # explore the plausible, not the tail
        harm = self.price * r.tail  # near-impossible picks teach shortcuts: priced
        mixed = prob_mixed(r.a, r.b, view.group_size)  # (M,)
        score = mixed + bonus - harm + 1e-9 * order
        starved = cfg.first_visit * min(max(2.0 * self.visits / view.num_items - 1.0, 0.0), 1.0)
        if starved > 0.0:
            score = score + starved * mixed * ~r.seen  # unseen and plausibly in band
        if view.drift_pressure > 0.0:
            score = score * mean ** (cfg.drift_tilt * view.drift_pressure)
        taken = np.zeros(pool.shape[0], dtype=bool)
        n_anchor = _stochastic_round(cfg.anchor_share * n, rng)
        n_probe = _stochastic_round(cfg.probe_share * n, rng)
        anchors = self._pick(mastered & free, order, n_anchor, taken)
        probes = self._pick(quarantined & free, r.predicted, n_probe, taken)
        rest = n - anchors.size - probes.size
        regular = ~quarantined & ~mastered
        if cfg.selection_temperature > 0:  # Gumbel top-k: sample in proportion to exp(score/T)
            score = score + cfg.selection_temperature * rng.gumbel(size=score.shape[0])
        main = self._pick(regular & free, score, rest, taken)
        yield_score = score - 10.0 * repeats  # the cap yields: fewest recent picks first
        for eligible, by in ((regular, yield_score), (free, score),
                             (np.ones_like(taken), yield_score)):
            if main.size >= rest:
                break  # pool short of regular items: capped ones, then the remainder
            main = np.concatenate([main, self._pick(eligible, by, rest - main.size, taken)])
        picked = np.concatenate([main, probes, anchors])
        ids = pool[picked[rng.permutation(picked.size)]]  # random order, not id order
        self.recent.push(ids)
        self.visits += n
        # Dual ascent on the tail budget: raise the price while the batch is over it.
        over = float(r.tail[main].sum()) / n - cfg.tail_budget
        self.price = float(np.clip(self.price + _PRICE_STEP * over, 0.0, _PRICE_MAX))
        return Selection(ids=ids, anchors=pool[anchors])

    @staticmethod
    def _pick(eligible: npt.NDArray[np.bool_], score: F64, k: int,
              taken: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
        """Indices of the k best eligible, untaken entries; marks them taken."""
        idx = np.flatnonzero(eligible & ~taken)
        chosen = idx[top_k(score[idx], k)]
        taken[chosen] = True
        return chosen


# --------------------------------------------------------------------------- uniform / dapo
class Uniform(_Stateless):
    """Uniform sampling without replacement (the GRPO default)."""

    name = PolicyName.UNIFORM
    requires_post_filter = False

    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        return Selection(ids=random_pool(rng, view.num_items, n))


class Dapo(Uniform):
    """DAPO dynamic sampling (arXiv 2503.14476): uniform, then drop zero-variance groups.

    ``requires_post_filter`` is True: the caller rolls out, drops groups whose rewards are all
    equal, and samples again until the batch is full, paying for every dropped rollout.
    """

    name = PolicyName.DAPO
    requires_post_filter = True


# --------------------------------------------------------------------------- greso
class Greso:
    """GRESO selective rollout (arXiv 2506.02177), as its authors released it.

    Faithful to Infini-AI-Lab/GRESO (``verl/trainer/ttis/presampling_selector.py``,
    ``DataProfiler.filter_examples_all_probabilistic``, and ``ray_trainer.py``): prompts are
    walked in epochs, each a fresh random order of the pool. A prompt whose last k groups were
    all zero-variance (all correct, or all wrong) is skipped with probability
    1 - max(p^k, min_keep), p = p_easy or p_hard, and a skipped prompt waits for the next
    epoch; a never-rolled-out prompt is never skipped, so the first epoch skips nothing. From
    the second epoch on, after each update p_easy (p_hard) moves by -delta if the update's
    share of all-correct (all-wrong) groups is at or above its target (0.083 and 0.167: a
    zero-variance target of 0.25 split 1:2), else by +delta, within [min_p, max_p] = [0.05,
    0.95]. Items added mid-run join the current epoch at a random place among the prompts not
    yet walked. Per-item state: an int8 streak (+k easy, -k hard) and the epoch order (int64).
    """

    name = PolicyName.GRESO
    requires_post_filter = False

    def __init__(self, config: GresoConfig | None = None) -> None:
        self.cfg = config
        self.streak: npt.NDArray[np.int8] = np.zeros(0, dtype=np.int8)
        self.order: I64 = np.zeros(0, dtype=np.int64)  # this epoch's walk
        self.cursor = 0  # next position of the walk
        self.epoch = 0
        self.p_easy = 0.5
        self.p_hard = 0.5

    def configure(self, cfg: CurriculumConfig) -> None:
        if self.cfg is None:
            self.cfg = cfg.greso

    def bind(self, num_items: int, numeric: dict[str, F64], cfg: CurriculumConfig) -> None:
        self.configure(cfg)
        assert self.cfg is not None
        self.streak = np.zeros(num_items, dtype=np.int8)
        self.order = np.zeros(0, dtype=np.int64)  # drawn at the first select()
        self.cursor, self.epoch = 0, -1
        self.p_easy, self.p_hard = self.cfg.p_easy, self.cfg.p_hard

    def add_items(self, n: int, numeric: dict[str, F64]) -> None:
        # new ids join the current epoch's walk at the next select (_join_new)
        self.streak = append_rows(self.streak, np.zeros(n, dtype=np.int8))

    def keep_probability(self, ids: I64) -> F64:
        """Probability that each id survives the pre-rollout filter."""
        assert self.cfg is not None
        s = self.streak[ids].astype(np.float64)
        base = np.where(s > 0, self.p_easy, self.p_hard)
        keep = np.where(s == 0, 1.0, base ** np.abs(s))
        out: F64 = np.maximum(keep, self.cfg.min_keep)
        return out

    def _new_epoch(self, rng: np.random.Generator, num_items: int) -> None:
        self.order = rng.permutation(num_items).astype(np.int64)
        self.cursor = 0
        self.epoch += 1

    def _join_new(self, rng: np.random.Generator, num_items: int) -> None:
        """Items added mid-epoch (ids past the walk's length) take random places among the
        prompts not yet walked."""
        new = np.arange(self.order.size, num_items, dtype=np.int64)
        rest = np.concatenate([self.order[self.cursor:], new])
        self.order = np.concatenate([self.order[:self.cursor], rest[rng.permutation(rest.size)]])

    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        if 0 < self.order.size < view.num_items:
            self._join_new(rng, view.num_items)
        if self.order.size == 0:
            self._new_epoch(rng, view.num_items)
        kept: list[I64] = []
        skipped: list[I64] = []
        total, walked = 0, 0
        while total < n and walked < 2 * view.num_items:  # two epochs at most per draw
            if self.cursor >= self.order.size:
                self._new_epoch(rng, view.num_items)
            chunk = self.order[self.cursor:self.cursor + max(2 * (n - total), 64)]
            dup = np.isin(chunk, np.concatenate(kept)) if kept else np.zeros(chunk.size, bool)
            keep = (rng.random(chunk.shape[0]) < self.keep_probability(chunk)) & ~dup
            cut = _cut_after(keep, n - total)  # walk only as far as the draw needs
            self.cursor += cut
            walked += cut
            kept.append(chunk[:cut][keep[:cut]])
            skipped.append(chunk[:cut][~keep[:cut] & ~dup[:cut]])
            total += kept[-1].size
        if total < n:  # two epochs skipped nearly everything: fill with skipped prompts
            pool = np.concatenate(skipped)
            kept.append(pool[~np.isin(pool, np.concatenate(kept))][: n - total])
        return Selection(ids=np.concatenate(kept)[:n])

    def observe(self, obs: Observation) -> None:
        assert self.cfg is not None
        easy, hard = obs.all_correct, obs.all_wrong
        s = self.streak[obs.ids].astype(np.int16)
        s = np.where(easy, np.maximum(s, 0) + 1, np.where(hard, np.minimum(s, 0) - 1, 0))
        self.streak[obs.ids] = np.clip(s, -127, 127).astype(np.int8)
        if obs.ids.size and self.epoch >= 1:  # the release adapts from the second epoch on
            c = self.cfg
            share_easy, share_hard = float(easy.mean()), float(hard.mean())
            self.p_easy += -c.delta if share_easy >= c.target_easy else c.delta
            self.p_hard += -c.delta if share_hard >= c.target_hard else c.delta
            self.p_easy = float(np.clip(self.p_easy, c.min_p, c.max_p))
            self.p_hard = float(np.clip(self.p_hard, c.min_p, c.max_p))

    def state(self) -> tuple[Arrays, Meta]:
        arrays: Arrays = {"streak": self.streak.copy(), "order": self.order.copy()}
        return arrays, {"p_easy": self.p_easy, "p_hard": self.p_hard, "cursor": self.cursor,
                        "epoch": self.epoch}

    def check_state(self, arrays: Arrays, meta: Meta, num_items: int) -> None:
        _check_array(arrays, "streak", num_items, "i")
        order = arrays.get("order")
        if order is None or order.ndim != 1 or order.size > num_items or (order.size and (
                order.dtype.kind not in "iu" or order.min() < 0 or order.max() >= num_items)):
            raise StateError("GRESO state 'order' must be a 1-D array of item ids")
        for key in ("p_easy", "p_hard"):
            v = meta.get(key)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise StateError(f"GRESO state {key!r} must be a number in [0, 1], got {v!r}")
        cursor, epoch = meta.get("cursor"), meta.get("epoch")
        if isinstance(cursor, bool) or not isinstance(cursor, int) or not (
                0 <= cursor <= order.size):
            raise StateError(f"GRESO state 'cursor' must index its epoch order, got {cursor!r}")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < -1:
            raise StateError(f"GRESO state 'epoch' must be an integer >= -1, got {epoch!r}")

    def load_state(self, arrays: Arrays, meta: Meta) -> None:
        self.streak = arrays["streak"].astype(np.int8)
        self.order = arrays["order"].astype(np.int64)
        self.p_easy, self.p_hard = float(meta["p_easy"]), float(meta["p_hard"])
        self.cursor, self.epoch = int(meta["cursor"]), int(meta["epoch"])


def _cut_after(keep: npt.NDArray[np.bool_], need: int) -> int:
    """How many entries of a walk to consume so that ``need`` kept ones are taken (or all)."""
    pos = np.flatnonzero(keep)
    return int(pos[need - 1]) + 1 if pos.size >= need else int(keep.size)


# --------------------------------------------------------------------------- mopps
class Mopps:
    """MoPPS (arXiv 2507.04632): Beta posterior per prompt, Thompson sampling, closest to 0.5.

    Prior Beta(a0, b0) = Beta(1, 1); after a prompt's rollouts, a <- l*a + (1-l)*a0 + k and
    b <- l*b + (1-l)*b0 + (n - k). A pool of ``pool_factor * n`` candidates is drawn uniformly,
    theta ~ Beta(a, b) is sampled for each, and the n with theta closest to ``target`` are
    taken. Unseen prompts sit at the flat prior. Per-item state: two float32.

    Checked against the authors' release (thu-rllab/MoPPS, ``recipe/ours/mopps.py``, topk
    scripts: ``ts_ratio=8``, ``bandit_decay_ratio=0.5``, target 0.5): the update, the top-k by
    distance to the target and the defaults match. One difference: the release takes its
    8B candidates as the next batch of an epoch-shuffled data loader (unpicked candidates wait
    for the next epoch); here they are a fresh uniform draw per call, which is alike within an
    epoch and needs no epoch state.
    """

    name = PolicyName.MOPPS
    requires_post_filter = False

    def __init__(self, config: MoppsConfig | None = None) -> None:
        self.cfg = config
        self.alpha: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self.beta: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)

    def configure(self, cfg: CurriculumConfig) -> None:
        if self.cfg is None:
            self.cfg = cfg.mopps

    def bind(self, num_items: int, numeric: dict[str, F64], cfg: CurriculumConfig) -> None:
        self.configure(cfg)
        assert self.cfg is not None
        self.alpha = np.full(num_items, self.cfg.prior_alpha, dtype=np.float32)
        self.beta = np.full(num_items, self.cfg.prior_beta, dtype=np.float32)

    def add_items(self, n: int, numeric: dict[str, F64]) -> None:
        assert self.cfg is not None
        self.alpha = append_rows(self.alpha, np.full(n, self.cfg.prior_alpha, np.float32))
        self.beta = append_rows(self.beta, np.full(n, self.cfg.prior_beta, np.float32))

    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        assert self.cfg is not None
        pool = random_pool(rng, view.num_items, self.cfg.pool_factor * n)
        theta = rng.beta(self.alpha[pool].astype(np.float64), self.beta[pool].astype(np.float64))
        return Selection(ids=pool[top_k(-np.abs(theta - self.cfg.target), n)])

    def observe(self, obs: Observation) -> None:
        assert self.cfg is not None
        lam, ids = self.cfg.decay, obs.ids
        a = lam * self.alpha[ids] + (1 - lam) * self.cfg.prior_alpha + obs.k
        b = lam * self.beta[ids] + (1 - lam) * self.cfg.prior_beta + (obs.n - obs.k)
        self.alpha[ids] = a.astype(np.float32)
        self.beta[ids] = b.astype(np.float32)

    def state(self) -> tuple[Arrays, Meta]:
        return {"alpha": self.alpha.copy(), "beta": self.beta.copy()}, {}

    def check_state(self, arrays: Arrays, meta: Meta, num_items: int) -> None:
        for key in ("alpha", "beta"):
            _check_array(arrays, key, num_items, "f")
            if num_items and not (np.all(np.isfinite(arrays[key])) and arrays[key].min() > 0):
                raise StateError(f"MoPPS state {key!r} must be finite and positive")

    def load_state(self, arrays: Arrays, meta: Meta) -> None:
        self.alpha = arrays["alpha"].astype(np.float32)
        self.beta = arrays["beta"].astype(np.float32)


# --------------------------------------------------------------------------- learnability
class Learnability:
    """LILO learnability sampling (arXiv 2502.12272): weight p(1 - p) of the last pass rate.

    p is the pass rate observed at the item's last update (NaN until observed, scored
    ``unseen_learnability``). From a uniform pool of ``pool_factor * n`` candidates, n are drawn
    without replacement with probability proportional to p(1 - p) + floor (Efraimidis-Spirakis
    exponential keys, O(pool)). Per-item state: one float32.
    """

    name = PolicyName.LEARNABILITY
    requires_post_filter = False

    def __init__(self, config: LearnabilityConfig | None = None) -> None:
        self.cfg = config
        self.last_p: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)

    def configure(self, cfg: CurriculumConfig) -> None:
        if self.cfg is None:
            self.cfg = cfg.learnability

    def bind(self, num_items: int, numeric: dict[str, F64], cfg: CurriculumConfig) -> None:
        self.configure(cfg)
        assert self.cfg is not None
        self.last_p = np.full(num_items, np.nan, dtype=np.float32)

    def add_items(self, n: int, numeric: dict[str, F64]) -> None:
        self.last_p = append_rows(self.last_p, np.full(n, np.nan, dtype=np.float32))

    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        assert self.cfg is not None
        pool = random_pool(rng, view.num_items, self.cfg.pool_factor * n)
        p = self.last_p[pool].astype(np.float64)
        learn = np.where(np.isnan(p), self.cfg.unseen_learnability, p * (1.0 - p))
        keys = rng.exponential(size=pool.shape[0]) / (learn + self.cfg.floor)
        return Selection(ids=pool[top_k(-keys, n)])

    def observe(self, obs: Observation) -> None:
        self.last_p[obs.ids] = (obs.k / obs.n).astype(np.float32)

    def state(self) -> tuple[Arrays, Meta]:
        return {"last_p": self.last_p.copy()}, {}

    def check_state(self, arrays: Arrays, meta: Meta, num_items: int) -> None:
        _check_array(arrays, "last_p", num_items, "f")

    def load_state(self, arrays: Arrays, meta: Meta) -> None:
        self.last_p = arrays["last_p"].astype(np.float32)


# --------------------------------------------------------------------------- static
class Static:
    """AdaRFT curriculum over an offline difficulty (arXiv 2504.05520).

    Offline difficulty d in [0, 100] (higher = harder), as in the paper: from an offline
    pass rate p (feature ``pass_rate_feature``, e.g. successes / k of k base-model samples)
    as d = 100 * (1 - p); otherwise the percentile rank (mid-rank, 0-100) of the feature
    ``difficulty_feature`` among the initial items, a scale that tail outliers cannot squash
    (items added later are ranked against the same reference). Missing values sit at 50.
    After each update the target moves T <- clip(T + eta * tanh(alpha * (R_avg - beta)), 0,
    100), R_avg = mean reward of the batch (paper: eta = 50, alpha = 2, beta = 0.5, T0 = 0);
    select() returns the n items with d closest to T (a window of a sorted index, O(n)).
    """

    name = PolicyName.STATIC
    requires_post_filter = False

    def __init__(self, config: StaticConfig | None = None) -> None:
        self.cfg = config
        self.difficulty: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self.order: I64 = np.zeros(0, dtype=np.int64)
        self.target = 0.0
        self.reference: F64 = np.zeros(0)  # sorted finite raw difficulties of the initial items

    def _difficulty(self, numeric: dict[str, F64], n: int) -> npt.NDArray[np.float32]:
        assert self.cfg is not None
        if self.cfg.pass_rate_feature in numeric:
            p = numeric[self.cfg.pass_rate_feature]
            if p.ndim != 1 or np.nanmin(p, initial=0.0) < 0 or np.nanmax(p, initial=1.0) > 1:
                raise FeatureError(
                    f"feature {self.cfg.pass_rate_feature!r} must be 1-D pass rates in [0, 1]"
                )
            d = 100.0 * (1.0 - p)
        else:
            raw = numeric[self.cfg.difficulty_feature]
            if raw.ndim != 1:
                raise FeatureError(f"feature {self.cfg.difficulty_feature!r} must be 1-D")
            d = _percentile_rank(self.reference, raw)
        return np.nan_to_num(np.clip(d, 0.0, 100.0), nan=50.0).astype(np.float32)

    def configure(self, cfg: CurriculumConfig) -> None:
        if self.cfg is None:
            self.cfg = cfg.static

    def bind(self, num_items: int, numeric: dict[str, F64], cfg: CurriculumConfig) -> None:
        self.configure(cfg)
        assert self.cfg is not None
        c = self.cfg
        if c.pass_rate_feature not in numeric and c.difficulty_feature not in numeric:
            raise FeatureError(
                f"policy 'static' needs an offline difficulty: pass features="
                f"{{{c.difficulty_feature!r}: ..., }} (higher = harder) or "
                f"{{{c.pass_rate_feature!r}: ...}} (offline pass rates in [0, 1])"
            )
        if c.pass_rate_feature not in numeric:
            raw = np.asarray(numeric[c.difficulty_feature], dtype=np.float64).ravel()
            self.reference = np.sort(raw[np.isfinite(raw)])
        self.difficulty = self._difficulty(numeric, num_items)
        self.order = np.argsort(self.difficulty, kind="stable").astype(np.int64)
        self.target = c.target_init

    def add_items(self, n: int, numeric: dict[str, F64]) -> None:
        self.difficulty = np.concatenate([self.difficulty, self._difficulty(numeric, n)])
        self.order = np.argsort(self.difficulty, kind="stable").astype(np.int64)

    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        """The n items with d closest to T; ties at the boundary distance drawn at random
        (offline pass rates of k samples take few values, so ties are common)."""
        d_sorted = self.difficulty[self.order]  # (N,) sorted
        t = np.float32(self.target)
        pos = int(np.searchsorted(d_sorted, t))
        lo, hi = max(0, pos - n), min(d_sorted.shape[0], pos + n)
        window = np.arange(lo, hi)
        dist = np.abs(d_sorted[window] - t)
        delta = np.partition(dist, n - 1)[n - 1] if window.size > n else dist.max()
        inner_lo = int(np.searchsorted(d_sorted, t - delta, side="right"))
        inner_hi = int(np.searchsorted(d_sorted, t + delta, side="left"))
        inner = np.arange(inner_lo, inner_hi)  # strictly closer than delta: all taken
        edge = np.concatenate([  # exactly at distance delta (t - delta and t + delta blocks)
            np.arange(int(np.searchsorted(d_sorted, t - delta, side="left")), inner_lo),
            np.arange(inner_hi, int(np.searchsorted(d_sorted, t + delta, side="right")))])
        edge = np.unique(edge)
        k = n - inner.size
        picked = edge[rng.choice(edge.size, size=k, replace=False)] if k < edge.size else edge
        return Selection(ids=self.order[np.concatenate([inner, picked])])

    def observe(self, obs: Observation) -> None:
        assert self.cfg is not None
        if obs.ids.size == 0:
            return
        r_avg = float(np.mean(obs.k / obs.n))
        c = self.cfg
        self.target = float(np.clip(self.target + c.eta * np.tanh(c.alpha * (r_avg - c.beta)),
                                    0.0, 100.0))

    def state(self) -> tuple[Arrays, Meta]:
        arrays: Arrays = {"difficulty": self.difficulty.copy(),
                          "reference": self.reference.copy()}
        return arrays, {"target": self.target}

    def check_state(self, arrays: Arrays, meta: Meta, num_items: int) -> None:
        _check_array(arrays, "difficulty", num_items, "f")
        ref = arrays.get("reference")
        if ref is None or ref.ndim != 1 or (ref.size and (
                ref.dtype.kind != "f" or not np.all(np.isfinite(ref))
                or np.any(np.diff(ref) < 0))):
            raise StateError("static state 'reference' must be a sorted 1-D float array")
        t = meta.get("target")
        if not isinstance(t, (int, float)) or not 0.0 <= float(t) <= 100.0:
            raise StateError(f"static state 'target' must be in [0, 100], got {t!r}")

    def load_state(self, arrays: Arrays, meta: Meta) -> None:
        self.difficulty = arrays["difficulty"].astype(np.float32)
        self.order = np.argsort(self.difficulty, kind="stable").astype(np.int64)
        self.reference = arrays["reference"].astype(np.float64)
        self.target = float(meta["target"])


def _percentile_rank(reference: F64, values: F64) -> F64:
    """Mid-rank percentile (0-100) of each value among the sorted ``reference``; NaN stays."""
    if reference.size == 0:
        return np.full(values.shape, np.nan)
    lo = np.searchsorted(reference, values, side="left")
    hi = np.searchsorted(reference, values, side="right")
    out: F64 = np.where(np.isfinite(values), 100.0 * (lo + hi) / (2.0 * reference.size),
                        np.nan)
    return out


# --------------------------------------------------------------------------- oracle
class Oracle(_Stateless):
    """Upper bound given the true pass rates: maximise the true P(mixed group).

    ``pass_rate_fn(ids) -> p`` returns the current true pass rate of each id (simulation and
    lab only). With ``pool_factor=None`` (default) it scores the WHOLE pool each call (O(N)) and
    takes the n items with the largest 1 - p^G - (1-p)^G; with an int it scores a random pool
    of ``pool_factor * n`` like the other policies.
    """

    name = PolicyName.ORACLE
    requires_post_filter = False

    def __init__(self, pass_rate_fn: Any, pool_factor: int | None = None) -> None:
        if not callable(pass_rate_fn):
            raise ConfigError("Oracle needs pass_rate_fn: a callable ids -> true pass rates")
        if pool_factor is not None and (isinstance(pool_factor, bool) or
                                        not isinstance(pool_factor, int) or pool_factor < 1):
            raise ConfigError(f"Oracle pool_factor must be None or an int >= 1, got {pool_factor!r}")
        self.pass_rate_fn = pass_rate_fn
        self.pool_factor = pool_factor

    def true_pass_rate(self, ids: I64) -> F64:
        """Call ``pass_rate_fn`` and check its answer."""
        p = np.asarray(self.pass_rate_fn(ids), dtype=np.float64)
        if p.shape != ids.shape or not np.all(np.isfinite(p)) or (p.size and (
                p.min() < 0 or p.max() > 1)):
            raise ZpdError(
                f"Oracle pass_rate_fn must return {ids.shape[0]} finite pass rates in [0, 1]"
            )
        return p

    def select(self, view: ItemView, n: int, rng: np.random.Generator) -> Selection:
        if self.pool_factor is None:
            pool = np.arange(view.num_items, dtype=np.int64)
        else:
            pool = random_pool(rng, view.num_items, self.pool_factor * n)
        p = self.true_pass_rate(pool)
        g = view.group_size
        score = 1.0 - p**g - (1.0 - p) ** g
        return Selection(ids=pool[top_k(score, n)])


# --------------------------------------------------------------------------- factory
_BY_NAME: dict[PolicyName, type[Any]] = {
    PolicyName.ZPD: ZpdPolicy,
    PolicyName.UNIFORM: Uniform,
    PolicyName.DAPO: Dapo,
    PolicyName.GRESO: Greso,
    PolicyName.MOPPS: Mopps,
    PolicyName.LEARNABILITY: Learnability,
    PolicyName.STATIC: Static,
}


def make_policy(policy: object) -> Policy:
    """A fresh, unbound policy from a name, a :class:`PolicyName`, or a policy object."""
    if isinstance(policy, (str, PolicyName)):
        name = PolicyName.parse(policy)
        if name is PolicyName.ORACLE:
            raise ConfigError(
                "policy 'oracle' needs the true pass rates: pass "
                "policy=zpd.core.policies.Oracle(pass_rate_fn) instead of the string"
            )
        out: Policy = _BY_NAME[name]()
        return out
    if isinstance(policy, Policy):
        return policy
    raise ConfigError(
        f"policy must be a name ({', '.join(m.value for m in PolicyName)}), a PolicyName, or a "
        f"policy object, got {type(policy).__name__}"
    )
