"""The public state machine: :class:`Curriculum` (sample, update, estimate, save, load).

A curriculum owns a per-item Beta tracker (:mod:`zpd.core.tracker`), a shared ability model
(:mod:`zpd.core.ability`), a selection policy (:mod:`zpd.core.policies`) and one PCG64 random
generator, from which every draw comes. Time is counted in rounds: each ``sample()`` call opens
a round (commits the ability model, advances the clock the forgetting is measured in). Every
call costs O(len(ids)) or O(n), never O(num_items), except ``add_items`` (amortised copy),
the oracle policy and persistence. Bad input raises a :class:`~zpd.core.errors.ZpdError`
subclass before anything is changed. This module holds no model arithmetic of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zpd.core import advantage as adv
from zpd.core.ability import AbilityModel, FeatureScaler, marginal_mean
from zpd.core.arrays import unique_inverse
from zpd.core.checks import (
    CATEGORY,
    check_count,
    check_features,
    check_ids,
    check_rewards,
)
from zpd.core.config import AdvantageKind, CurriculumConfig, PolicyName
from zpd.core.coverage import RecentDraws
from zpd.core.errors import ConfigError, FeatureError, SampleSizeError, StateError
from zpd.core.policies import ItemRead, Observation, Policy, make_policy, quarantine_mask
from zpd.core.state import VERSION, check_header, read_state, write_state
from zpd.core.tracker import NEVER, Tracker, beta_moments

__all__ = ["COVERAGE_WINDOW", "Curriculum", "Estimate"]

COVERAGE_WINDOW = 8
"""Draws the coverage metrics of :meth:`Curriculum.coverage` look back over."""

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Estimate:
    """Posterior pass-rate estimate per id: mean and a (lower, upper) interval, each (len(ids),)."""

    mean: F64
    lower: F64
    upper: F64


class _View:
    """Read-only :class:`~zpd.core.policies.ItemView` over a curriculum at one round."""

    def __init__(self, cur: Curriculum) -> None:
        self._cur = cur

    @property
    def num_items(self) -> int:
        return self._cur.num_items

    @property
    def group_size(self) -> int:
        return self._cur.group_size

    @property
    def drift_pressure(self) -> float:
        return self._cur.drift_pressure

    def read(self, ids: I64) -> ItemRead:
        return self._cur._read(ids)


class Curriculum:
    """Pick prompts in the model's zone of proximal development and track their pass rates.

    Parameters: ``num_items`` (>= 1), ``policy`` (a name, :class:`PolicyName` or policy
    object), ``group_size`` G (rollouts per prompt), ``seed`` of the PCG64 generator,
    ``features`` ({name: array (num_items,) or (num_items, d)}; NaN = missing; an integer
    array named ``category`` is categorical), ``config`` (:class:`CurriculumConfig` or dict).
    """

    def __init__(
        self,
        num_items: int,
        policy: object = "zpd",
        group_size: int = 8,
        seed: int = 0,
        features: Mapping[str, object] | None = None,
        config: CurriculumConfig | Mapping[str, Any] | None = None,
    ) -> None:
        n = check_count(num_items, "num_items")
        self._group_size = _check_group_size(group_size)
        self._seed = _check_seed(seed)
        self.config = _check_config(config)
        category, numeric = check_features(features, n)
        self._names = _feature_names(category, numeric)
        self._has_category = category is not None
        self._scaler = FeatureScaler(numeric, n)
        cat = category if category is not None else np.zeros(n, dtype=np.int32)
        self._tracker = Tracker(self.config.tracker, n)
        self._ability = AbilityModel(self.config.ability, cat, self._scaler.transform(numeric, n))
        self._seed_offline(np.arange(n, dtype=np.int64), numeric)
        self._policy: Policy = make_policy(policy)
        self._policy.bind(n, numeric, self.config)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        self._step = 0
        self._drift = 0.0
        self._last_ids: I64 = np.zeros(0, dtype=np.int64)
        self._anchor_ids: I64 = np.zeros(0, dtype=np.int64)
        self._meter = _CoverageMeter()
        self._view = _View(self)

    # ----------------------------------------------------------------- properties
    @property
    def num_items(self) -> int:
        """Number of items (ids are 0 .. num_items - 1)."""
        return self._tracker.num_items

    @property
    def group_size(self) -> int:
        """Rollouts per prompt G the policy plans for."""
        return self._group_size

    @property
    def policy(self) -> Policy:
        """The selection policy object."""
        return self._policy

    @property
    def policy_name(self) -> PolicyName:
        """The policy's :class:`PolicyName`."""
        return self._policy.name

    @property
    def step(self) -> int:
        """Rounds so far (sample() calls)."""
        return self._step

    @property
    def requires_post_filter(self) -> bool:
        """True for DAPO: drop zero-variance groups after rollout and resample."""
        return bool(self._policy.requires_post_filter)

    @property
    def drift_pressure(self) -> float:
        """Current drift pressure in [0, 1] (see :meth:`set_drift_pressure`)."""
        return self._drift

    @property
    def last_ids(self) -> I64:
        """Ids returned by the last sample() call."""
        return self._last_ids.copy()

    @property
    def anchor_ids(self) -> I64:
        """Ids among the last sample() that are retention anchors (mastered items replayed)."""
        return self._anchor_ids.copy()

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the features given at construction (sorted)."""
        return self._names

    # ----------------------------------------------------------------- reads
    def _read(self, ids: I64, committed: bool = False) -> ItemRead:
        """Posterior of ``ids`` (already valid) now; ``committed``: without this round's
        pending ability evidence (updates use it, so disjoint updates commute)."""
        t = self._step
        mu, var, tail = self._ability.predict(ids, t, committed)  # logit mean/var, tail
        m, s = _prior_beta(mu, var, tail, self.config)
        a, b, seen = self._tracker.read(ids, m, s, t)
        return ItemRead(a=a, b=b, predicted=m, strength=s, tail=tail, seen=seen)

    def estimate(self, ids: object) -> Estimate:
        """Posterior pass rate of each id: mean and interval (mean +- z sd, clipped to [0, 1])."""
        idx = check_ids(ids, self.num_items)
        r = self._read(idx)
        mean, sd = beta_moments(r.a, r.b)
        z = self.config.tracker.interval_z
        return Estimate(mean=mean, lower=np.clip(mean - z * sd, 0.0, 1.0),
                        upper=np.clip(mean + z * sd, 0.0, 1.0))

    def predicted(self, ids: object) -> F64:
        """The ability model's current pass-rate prediction (the prior stale items decay to)."""
        return self._read(check_ids(ids, self.num_items)).predicted

    def quarantined(self, ids: object) -> npt.NDArray[np.bool_]:
        """True where an observed item is confidently near-impossible (only re-probed)."""
        idx = check_ids(ids, self.num_items)
        r = self._read(idx)
        mean, _ = beta_moments(r.a, r.b)
        return quarantine_mask(r, mean, self.config.zpd)

    def ability(self) -> dict[str, F64]:
        """Per-category ability (logit mean and variance), this round's evidence included."""
        mean, var = self._ability.effective_theta()
        return {"mean": mean.copy(), "var": var.copy()}

    # ----------------------------------------------------------------- verbs
    def sample(self, n: int) -> I64:
        """Open a round and return ``n`` unique item ids (int64) to roll out next."""
        k = check_count(n, "n")
        if k > self.num_items:
            raise SampleSizeError(
                f"cannot sample {k} unique ids from {self.num_items} items; "
                "sample at most num_items per call (call sample() again for more)"
            )
        rng_state = self._rng.bit_generator.state
        self._ability.flush(self._step)  # close the last round (benign if we fail below)
        self._tracker.end_round()
        self._step += 1
        try:
            sel = self._policy.select(self._view, k, self._rng)
        except BaseException:
            self._step -= 1
            self._rng.bit_generator.state = rng_state
            raise
        self._last_ids = sel.ids.astype(np.int64)
        self._anchor_ids = sel.anchors.astype(np.int64)
        self._meter.record(self._last_ids, self._tracker.seen(self._last_ids))
        return self._last_ids.copy()

    def coverage(self) -> dict[str, float]:
        """Coverage of the last :data:`COVERAGE_WINDOW` draws, as ``curriculum/*`` metrics:
        distinct ids, the most draws one id was in, and the share of the last draw never
        observed before (first visits). Saved with the state, so a resumed run reports what an
        uninterrupted one would (a state file without it restarts the meter)."""
        m = self._meter
        return {"curriculum/distinct_in_window": float(m.recent.distinct()),
                "curriculum/max_repeats_in_window": float(m.recent.max_repeats()),
                "curriculum/first_visit_share": m.first_share}

    def update(self, ids: object, rewards: object) -> None:
        """Record rollout rewards (len(ids), G) in [0, 1] (binary or fractional) of ``ids``.

        Repeated ids are pooled. Everything is validated before anything changes.
        """
        idx = check_ids(ids, self.num_items)
        r = check_rewards(rewards, idx.shape[0])  # (B, G)
        if idx.size == 0:
            return
        obs = _aggregate(idx, r)
        post = self._read(obs.ids, committed=True)
        self._tracker.score_rates(obs.ids, obs.k / obs.n, post.predicted, post.strength,
                                  self._step)
        trained = _informative_groups(idx, r, obs.ids)
        self._ability.observe(obs.ids, obs.k, obs.n, obs.sq, trained, self._step)
        # Training on an informative group makes the item easier by the learned practice
        # effect (never assumed to hurt): the stored posterior is for the item after it.
        shift = max(self._ability.eta, 0.0) * trained
        self._tracker.observe(obs.ids, obs.k, obs.n, post.a, post.b, self._step, shift)
        self._policy.observe(obs)

    def advantage(self, ids: object, rewards: object, kind: object = "tracker") -> F64:
        """Advantages (len(ids), G) of the rewards, using the posterior before this batch."""
        how = AdvantageKind.parse(kind)
        idx = check_ids(ids, self.num_items)
        r = check_rewards(rewards, idx.shape[0])
        if how is AdvantageKind.GRPO:
            return adv.grpo(r)
        if how is AdvantageKind.DR_GRPO:
            return adv.dr_grpo(r)
        post = self._read(idx)
        return adv.tracker_informed(r, post.a / (post.a + post.b), post.a + post.b)

    def set_drift_pressure(self, x: float) -> None:
        """Lean the zpd policy toward easier items: x in [0, 1] (0 = off)."""
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 <= float(x) <= 1.0:
            raise ConfigError(f"drift pressure must be a number in [0, 1], got {x!r}")
        self._drift = float(x)

    def add_items(self, n: int, features: Mapping[str, object] | None = None) -> I64:
        """Append ``n`` new items (features: names given at construction; missing = NaN)."""
        k = check_count(n, "n")
        category, numeric = self._new_features(k, features)
        X = self._scaler.transform(numeric, k)
        old = self.num_items
        self._policy.add_items(k, numeric)  # may raise (validates its own feature needs)
        self._tracker.append(k)
        self._ability.append(category, X)
        new = np.arange(old, old + k, dtype=np.int64)
        self._seed_offline(new, numeric)
        return new

    def _seed_offline(self, ids: I64, numeric: Mapping[str, F64]) -> None:
        """Offline pass rates (``config.ability.offline_feature``) seed the items' evidence."""
        cfg = self.config.ability
        rate = numeric.get(cfg.offline_feature)
        if rate is None or cfg.offline_samples <= 0:
            return
        rate = np.asarray(rate, dtype=np.float64)
        if rate.ndim != 1 or np.any(rate[np.isfinite(rate)] < 0) or np.any(
                rate[np.isfinite(rate)] > 1):
            raise FeatureError(
                f"feature {cfg.offline_feature!r} must hold pass rates in [0, 1] (NaN = none)")
        given = numeric.get("prior_samples")
        k = (np.asarray(given, dtype=np.float64).reshape(-1) if given is not None
             else np.full(ids.size, cfg.offline_samples))
        if k.shape != (ids.size,):
            raise FeatureError("feature 'prior_samples' must be 1-D, one count per item")
        self._ability.seed_offline(ids, rate, np.nan_to_num(k, nan=cfg.offline_samples))

    def _new_features(self, k: int, features: Mapping[str, object] | None
                      ) -> tuple[npt.NDArray[np.int32], dict[str, F64]]:
        """Validate add_items features against the construction layout; fill the missing."""
        given = dict(features or {})
        extra = set(given) - set(self._names)
        if extra:
            raise FeatureError(
                f"unknown feature(s) {sorted(extra)}; this curriculum has {list(self._names)}"
            )
        category, numeric = check_features(given, k)
        if CATEGORY in given and category is None and self._has_category:
            raise FeatureError("feature 'category' must be an integer array, as at construction")
        for name, width in zip(self._scaler.names, self._scaler.widths):
            if name not in numeric:
                numeric[name] = np.full((k,) if width == 1 else (k, width), np.nan)
        problem = self._scaler.check_widths(numeric)
        if problem:
            raise FeatureError(problem)
        return (category if category is not None else np.zeros(k, np.int32)), numeric

    # ----------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """``{"header": JSON-able dict, "arrays": {name: ndarray}}``: everything to resume."""
        p_arrays, p_meta = self._policy.state()
        arrays: dict[str, npt.NDArray[Any]] = {}
        for key, arr in self._tracker.state_arrays().items():
            arrays[f"tracker.{key}"] = arr
        for key, arr in self._ability.state_arrays().items():
            arrays[f"ability.{key}"] = arr
        for key, arr in p_arrays.items():
            arrays[f"policy.{key}"] = arr
        arrays["last.ids"] = self._last_ids.copy()
        arrays["last.anchors"] = self._anchor_ids.copy()
        for key, arr in self._meter.recent.state().items():
            arrays[f"meter.{key}"] = arr
        header: dict[str, Any] = {
            "format": "zpd.curriculum",
            "version": VERSION,
            "num_items": self.num_items,
            "policy": self._policy.name.value,
            "group_size": self._group_size,
            "seed": self._seed,
            "step": self._step,
            "drift_pressure": self._drift,
            "config": self.config.to_dict(),
            "rng": _jsonable_rng(self._rng.bit_generator.state),
            "features": {"names": list(self._names), "has_category": self._has_category,
                         "numeric": list(self._scaler.names),
                         "widths": list(self._scaler.widths),
                         "mean": self._scaler.mean.tolist(), "std": self._scaler.std.tolist()},
            "policy_meta": p_meta,
            "meter_first_share": self._meter.first_share,
        }
        return {"header": header, "arrays": arrays}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; checks everything first, then swaps atomically.

        The state must come from a curriculum with the same number of items and policy.
        """
        header, arrays = _split_state(state)
        if header.get("num_items") != self.num_items:
            raise StateError(
                f"state is for {header.get('num_items')!r} items but this curriculum has "
                f"{self.num_items}; use Curriculum.load() or add_items() first"
            )
        if header.get("policy") != self._policy.name.value:
            raise StateError(
                f"state was written by policy {header.get('policy')!r}, this curriculum uses "
                f"{self._policy.name.value!r}"
            )
        new = _Restored.build(header, arrays, self._policy, self.config)
        new.install(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state atomically to ``path`` (.npz + JSON header; no pickle)."""
        sd = self.state_dict()
        write_state(path, sd["header"], sd["arrays"])

    @classmethod
    def load(cls, path: str | os.PathLike[str], policy: object = None,
             num_items: int | None = None) -> Curriculum:
        """Rebuild a curriculum from :meth:`save` output.

        ``policy``: needed for the oracle (pass ``Oracle(pass_rate_fn)``); otherwise the saved
        policy name is used. ``num_items``: if given, the file must hold exactly that many.
        """
        header, arrays = read_state(path)
        n = header.get("num_items")
        if not isinstance(n, int) or n < 1:
            raise StateError(f"{path}: header num_items must be a positive integer, got {n!r}")
        if num_items is not None and n != num_items:
            raise StateError(f"{path} holds {n} items, expected {num_items}")
        cfg = CurriculumConfig.from_dict(_get(header, "config", dict))
        name = PolicyName.parse(_get(header, "policy", str))
        pol = make_policy(policy if policy is not None else name)
        if pol.name is not name:
            raise StateError(f"{path} was written by policy {name.value!r}, not {pol.name.value!r}")
        cur = cls.__new__(cls)
        cur.config = cfg
        cur._policy = pol
        cur._meter = _CoverageMeter()
        cur._view = _View(cur)
        _Restored.build(header, arrays, pol, cfg, fresh=True).install(cur)
        return cur


# ------------------------------------------------------------------------- helpers
class _CoverageMeter:
    """Recent draws and the first-visit share of the last one (metrics only)."""

    def __init__(self) -> None:
        self.recent = RecentDraws(COVERAGE_WINDOW)
        self.first_share = 0.0

    def record(self, ids: I64, seen: npt.NDArray[np.bool_]) -> None:
        self.recent.push(ids)
        self.first_share = float(np.mean(~seen)) if ids.size else 0.0


def _check_group_size(g: object) -> int:
    if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not 1 <= int(g) <= 65536:
        raise ConfigError(f"group_size must be an integer in [1, 65536], got {g!r}")
    return int(g)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_config(config: object) -> CurriculumConfig:
    if config is None:
        return CurriculumConfig()
    if isinstance(config, CurriculumConfig):
        return config
    if isinstance(config, Mapping):
        return CurriculumConfig.from_dict(dict(config))
    raise ConfigError(f"config must be a CurriculumConfig or a dict, got {type(config).__name__}")


def _feature_names(category: npt.NDArray[np.int32] | None, numeric: dict[str, F64]
                   ) -> tuple[str, ...]:
    names = set(numeric)
    if category is not None:
        names.add(CATEGORY)
    return tuple(sorted(names))


def _prior_beta(mu: F64, var: F64, tail: F64, cfg: CurriculumConfig) -> tuple[F64, F64]:
    """Beta prior (mean, strength) matching the ability model's predictive distribution.

    Ordinary component: logistic-normal mean (probit approximation) and variance
    m(1-m) * rho with rho = m(1-m)v / (1 + m(1-m)v) (a Beta of strength 1 / (m(1-m)v)).
    Mixed with the near-impossible component (pass rate ``tail_pass_rate``) by moments.
    """
    m_o = np.clip(marginal_mean(mu, var), 1e-6, 1.0 - 1e-6)
    mq = m_o * (1.0 - m_o)
    var_o = mq * (mq * var) / (1.0 + mq * var)
    eps = cfg.ability.tail_pass_rate
    m = (1.0 - tail) * m_o + tail * eps
    second = (1.0 - tail) * (var_o + m_o**2) + tail * eps**2
    v = np.maximum(second - m**2, 1e-12)
    tc = cfg.tracker
    s = np.clip(m * (1.0 - m) / v - 1.0, tc.prior_strength_min, tc.prior_strength_max)
    return m, s


def _informative_groups(ids: I64, r: F64, uniq: I64) -> F64:
    """Per unique id (sorted), how many of its groups had reward variance."""
    inf = (r.max(axis=1) > r.min(axis=1)).astype(np.float64)  # (B,)
    out: F64 = np.zeros(uniq.size)
    np.add.at(out, np.searchsorted(uniq, ids), inf)
    return out


def _aggregate(ids: I64, r: F64) -> Observation:
    """Pool repeated ids: sums of rewards and squares, rollouts, min and max per unique id."""
    g = r.shape[1]
    sums, sq = r.sum(axis=1), (r * r).sum(axis=1)  # (B,)
    mins, maxs = r.min(axis=1), r.max(axis=1)  # (B,)
    uniq, inv = unique_inverse(ids)
    if uniq.size == ids.size:
        order = np.argsort(ids, kind="stable")
        return Observation(ids=ids[order], k=sums[order], n=np.full(ids.size, float(g)),
                           rmin=mins[order], rmax=maxs[order], sq=sq[order])
    k = np.bincount(inv, weights=sums, minlength=uniq.size).astype(np.float64)
    sqs = np.bincount(inv, weights=sq, minlength=uniq.size).astype(np.float64)
    n = np.bincount(inv, minlength=uniq.size).astype(np.float64) * g
    rmin = np.full(uniq.size, np.inf)
    rmax = np.full(uniq.size, -np.inf)
    np.minimum.at(rmin, inv, mins)
    np.maximum.at(rmax, inv, maxs)
    return Observation(ids=uniq.astype(np.int64), k=k, n=n, rmin=rmin, rmax=rmax, sq=sqs)


def _jsonable_rng(state: Mapping[str, Any]) -> dict[str, Any]:
    return {"bit_generator": state["bit_generator"],
            "state": {"state": int(state["state"]["state"]), "inc": int(state["state"]["inc"])},
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def _get(header: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    value = header.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise StateError(f"state header field {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _split_state(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(state, Mapping) or "header" not in state or "arrays" not in state:
        raise StateError("a state dict must be {'header': ..., 'arrays': ...} from state_dict()")
    header, arrays = state["header"], state["arrays"]
    check_header(header)
    if not isinstance(arrays, Mapping):
        raise StateError("state 'arrays' must be a dict of numpy arrays")
    return dict(header), {str(k): np.asarray(v) for k, v in arrays.items()}


def _int_field(header: Mapping[str, Any], key: str, lo: int, hi: int) -> int:
    v = header.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise StateError(f"state header field {key!r} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _share_field(header: Mapping[str, Any], key: str, default: float | None = None) -> float:
    v = header.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise StateError(f"state header {key!r} must be in [0, 1], got {v!r}")
    return float(v)


def _sub(arrays: Mapping[str, npt.NDArray[Any]], prefix: str) -> dict[str, npt.NDArray[Any]]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _check_tracker(t: dict[str, npt.NDArray[Any]], n: int, step: int) -> None:
    for key, kind in (("alpha", "f"), ("beta", "f"), ("last", "i")):
        arr = t.get(key)
        if arr is None or arr.shape != (n,) or arr.dtype.kind != kind:
            raise StateError(f"state array 'tracker.{key}' is missing or not ({n},) of kind {kind}")
    if not (np.all(np.isfinite(t["alpha"])) and np.all(np.isfinite(t["beta"]))):
        raise StateError("tracker pseudo-counts contain NaN or inf")
    if t["alpha"].min() < 0 or t["beta"].min() < 0:
        raise StateError("tracker pseudo-counts must be >= 0")
    if t["last"].min() < NEVER or t["last"].max() > step:
        raise StateError("tracker round stamps are out of range")
    grid = t.get("grid")
    if grid is None or grid.ndim != 1 or grid.size < 1 or grid.dtype.kind != "f" or not np.all(
            (grid > 0) & (grid <= 1)):
        raise StateError("state array 'tracker.grid' must hold forgetting rates in (0, 1]")
    loss, pend = t.get("loss"), t.get("pend_loss")
    if loss is None or loss.shape != grid.shape or not np.all(np.isfinite(loss)):
        raise StateError("state array 'tracker.loss' must be finite, shaped like the grid")
    if pend is None or pend.ndim != 2 or pend.shape[1] != grid.size or not np.all(
            np.isfinite(pend)):
        raise StateError("state array 'tracker.pend_loss' must be finite, (updates, grid)")
    lam = t.get("lam")
    if lam is None or lam.shape != (1,) or not 0.0 < float(lam[0]) <= 1.0:
        raise StateError("state array 'tracker.lam' must hold one forgetting rate in (0, 1]")


def _check_ids_array(arr: npt.NDArray[Any] | None, key: str, n: int) -> I64:
    if arr is None or arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise StateError(f"state array {key!r} must be a 1-D integer array")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise StateError(f"state array {key!r} holds ids outside [0, {n})")
    return arr.astype(np.int64)


def _scaler_from(feat: object, f_cols: int | None = None) -> tuple[FeatureScaler, bool]:
    if not isinstance(feat, dict):
        raise StateError("state header 'features' must be a dict")
    try:
        names = tuple(str(x) for x in feat["numeric"])
        widths = tuple(int(x) for x in feat["widths"])
        mean = np.asarray(feat["mean"], dtype=np.float64)
        std = np.asarray(feat["std"], dtype=np.float64)
        has_cat = bool(feat["has_category"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"state header 'features' is malformed: {exc}") from exc
    dim = sum(widths)
    if len(names) != len(widths) or mean.shape != (dim,) or std.shape != (dim,) or (
            dim and (not np.all(np.isfinite(mean)) or not np.all(std > 0))):
        raise StateError("state header 'features' is inconsistent")
    scaler = FeatureScaler.__new__(FeatureScaler)
    scaler.names, scaler.widths, scaler.mean, scaler.std = names, widths, mean, std
    return scaler, has_cat


@dataclass
class _Restored:
    """A fully checked state, ready to be installed into a curriculum in one step."""

    n: int
    group_size: int
    seed: int
    step: int
    drift: float
    rng: np.random.Generator
    scaler: FeatureScaler
    has_category: bool
    tracker: Tracker
    ability: AbilityModel
    policy_arrays: dict[str, npt.NDArray[Any]]
    policy_meta: dict[str, Any]
    last_ids: I64
    anchors: I64
    cfg: CurriculumConfig
    policy: Policy
    meter: _CoverageMeter

    @classmethod
    def build(cls, header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]], policy: Policy,
              cfg: CurriculumConfig, fresh: bool = False) -> _Restored:
        n = _int_field(header, "num_items", 1, 2**31 - 2)
        step = _int_field(header, "step", 0, 2**31 - 2)
        try:
            group_size = _check_group_size(header.get("group_size"))
            seed = _check_seed(header.get("seed"))
        except ConfigError as exc:
            raise StateError(f"state header: {exc}") from exc
        drift = _share_field(header, "drift_pressure")
        rng = np.random.Generator(np.random.PCG64())
        try:
            rng.bit_generator.state = header["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"state header 'rng' is not a PCG64 state: {exc}") from exc
        scaler, has_cat = _scaler_from(header.get("features"))
        t = _sub(arrays, "tracker.")
        _check_tracker(t, n, step)
        a = _sub(arrays, "ability.")
        AbilityModel.check_state(a, n, scaler.dim)
        p_arrays, p_meta = _sub(arrays, "policy."), header.get("policy_meta")
        if not isinstance(p_meta, dict):
            raise StateError("state header 'policy_meta' must be a dict")
        if fresh:
            policy.configure(cfg)
        policy.check_state(p_arrays, p_meta, n)
        last = _check_ids_array(arrays.get("last.ids"), "last.ids", n)
        anchors = _check_ids_array(arrays.get("last.anchors"), "last.anchors", n)
        tracker = Tracker(cfg.tracker, 0)
        tracker.load_arrays(t)
        ability = AbilityModel(cfg.ability, np.zeros(0, np.int32), np.zeros((0, scaler.dim),
                                                                            np.float32))
        ability.load_arrays(a)
        meter = _CoverageMeter()
        m = _sub(arrays, "meter.")
        if m:  # written since the meter became state; older files restart it
            RecentDraws.check_state(m, "", n, COVERAGE_WINDOW)
            meter.recent.load_state(m, "")
            meter.first_share = _share_field(header, "meter_first_share", 0.0)
        return cls(n, group_size, seed, step, drift, rng, scaler, has_cat, tracker,
                   ability, p_arrays, p_meta, last, anchors, cfg, policy, meter)

    def install(self, cur: Curriculum) -> None:
        """Swap the checked state into ``cur`` (cannot fail)."""
        cur.config = self.cfg
        cur._group_size, cur._seed, cur._step, cur._drift = (
            self.group_size, self.seed, self.step, self.drift)
        cur._rng = self.rng
        cur._scaler, cur._has_category = self.scaler, self.has_category
        names = set(self.scaler.names) | ({CATEGORY} if self.has_category else set())
        cur._names = tuple(sorted(names))
        cur._tracker, cur._ability = self.tracker, self.ability
        self.policy.load_state(self.policy_arrays, self.policy_meta)
        cur._policy = self.policy
        cur._last_ids, cur._anchor_ids = self.last_ids, self.anchors
        cur._meter = self.meter
