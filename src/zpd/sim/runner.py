"""Runs curriculum policies against simulated worlds and counts what their rollouts bought.

What it is: the training loop of an RLVR run with the model replaced by a :class:`World`. Each step
a curriculum samples B items, the world rolls out G rewards per item from true pass rates, the
curriculum is updated, the world trains (practice) and advances (drift, arrivals). For a policy
that needs a post-filter (DAPO dynamic sampling, arXiv 2503.14476) the loop drops zero-variance
groups and samples again until B informative groups are collected or ``max_rounds`` is reached,
paying for every rollout and truncating the excess as verl's DAPO recipe does.

What it is not: a curriculum (it uses ``zpd.Curriculum`` through its public API only) nor a
report (:mod:`zpd.sim.report` summarises and prints).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from zpd.sim.config import WorldConfig
from zpd.sim.errors import SimConfigError
from zpd.sim.world import NEAR_IMPOSSIBLE_P, World, has_signal

ALL_POLICIES: tuple[str, ...] = (
    "uniform", "dapo", "greso", "mopps", "learnability", "static", "oracle", "zpd",
)
"""Every policy of the core, in the order tables show them."""


class CurriculumLike(Protocol):
    """What the runner needs of a curriculum (``zpd.Curriculum`` satisfies it)."""

    @property
    def requires_post_filter(self) -> bool: ...

    def sample(self, n: int) -> np.ndarray: ...

    def update(self, ids: np.ndarray, rewards: np.ndarray) -> None: ...

    def add_items(
        self, n: int, features: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray: ...


CurriculumFactory = Callable[[str, World, int], CurriculumLike]
"""(policy name, world at step 0, seed) -> a fresh curriculum over the world's initial pool."""

Progress = Callable[[str, int, int, int], None]
"""(policy, seed, steps done, steps in all) -> None; called once per step."""


@dataclass(frozen=True)
class RunConfig:
    """What to compare: which policies, over which seeds."""

    policies: tuple[str, ...] = ALL_POLICIES
    """Policy names, as ``zpd.Curriculum(policy=...)`` accepts them (``oracle`` included)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds; seed s drives the curriculum and the world (world seed = WorldConfig.seed + s)."""
    max_rounds: int = 10
    """Post-filter policies (dapo): most sampling rounds per step (verl max_num_gen_batches)."""
    coverage_window: int = 100
    """Steps per window of the repeat metric: the largest share of a window's batches that any
    one item was in (an item in every batch of a window scores 1)."""

    def __post_init__(self) -> None:
        policies = tuple(str(p) for p in self.policies)
        object.__setattr__(self, "policies", policies)
        if not policies or len(set(policies)) != len(policies):
            raise SimConfigError(f"policies={policies!r}: give one or more distinct names")
        seeds = tuple(self.seeds)
        object.__setattr__(self, "seeds", seeds)
        bad = [s for s in seeds if not isinstance(s, (int, np.integer)) or s < 0]
        if not seeds or bad or len(set(seeds)) != len(seeds):
            raise SimConfigError(f"seeds={seeds!r}: give one or more distinct integers >= 0")
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise SimConfigError(f"max_rounds={self.max_rounds!r}: give an integer >= 1")
        if not isinstance(self.coverage_window, int) or self.coverage_window < 1:
            raise SimConfigError(
                f"coverage_window={self.coverage_window!r}: give an integer >= 1")


@dataclass(frozen=True)
class RunMetrics:
    """Counts from one policy on one seed."""

    policy: str
    seed: int
    groups: int
    """Groups rolled out (items sampled, dropped ones included)."""
    informative: int
    """Groups with reward variance that went into training (DAPO's truncated excess excluded)."""
    rollouts: int
    """Rollouts paid for (groups x G)."""
    near_impossible: int
    """Groups on items whose true pass rate was below 0.02 when sampled."""
    pq_sum: float
    """Sum over groups of true p(1-p) at sampling time (the expected learning signal)."""
    seconds: float
    """Wall time of the whole run."""
    curriculum_seconds: float
    """Wall time spent inside the curriculum (sample, update, add_items)."""
    final_mean_p: float
    """Mean true pass rate over the whole pool at the end (a learning proxy via practice)."""
    distinct: int = 0
    """Distinct items sampled over the run (coverage; low = the same few items over and over)."""
    max_window_share: float = 0.0
    """Largest share of the batches of any ``coverage_window``-step window that one item was in."""
    mid_informative: float = 0.0
    """Informative fraction over the middle of the run (steps 30 % .. 70 %)."""
    late_informative: float = 0.0
    """Informative fraction over the last 30 % of the run (a late collapse shows here)."""
    first_visit_ece: float = float("nan")
    """Calibration of the curriculum's pass-rate estimate at items' first visits: expected
    calibration error over 10 equal-width bins of the estimate, against the true pass rate
    (NaN when the curriculum has no ``estimate`` or nothing was visited)."""
    first_visit_bias: float = float("nan")
    """Mean (estimate - true pass rate) at first visits (< 0: the estimate lags a rising model)."""

    @property
    def informative_fraction(self) -> float:
        """Informative groups per group rolled out."""
        return self.informative / max(self.groups, 1)

    @property
    def rollouts_per_informative(self) -> float:
        """Rollouts paid per informative group (inf when none)."""
        return self.rollouts / self.informative if self.informative else float("inf")

    @property
    def near_impossible_share(self) -> float:
        """Share of sampled groups on near-impossible items."""
        return self.near_impossible / max(self.groups, 1)

    @property
    def new_item_share(self) -> float:
        """Share of sampled groups that were an item's first appearance (distinct / groups)."""
        return self.distinct / max(self.groups, 1)

    @property
    def mean_pq(self) -> float:
        """Mean true p(1-p) of sampled items (0.25 at best)."""
        return self.pq_sum / max(self.groups, 1)


@dataclass
class _Tally:
    seen: np.ndarray  # (N,) bool: item was sampled at least once
    groups: int = 0
    informative: int = 0
    near_impossible: int = 0
    pq_sum: float = 0.0
    cur_seconds: float = 0.0
    step_ids: list[np.ndarray] = field(default_factory=list)  # per step: ids sampled (unique)
    step_groups: list[int] = field(default_factory=list)  # per step: groups rolled out
    step_informative: list[int] = field(default_factory=list)  # per step: informative groups
    first_est: list[np.ndarray] = field(default_factory=list)  # estimates at first visits
    first_true: list[np.ndarray] = field(default_factory=list)  # true p at first visits


def max_window_share(step_ids: list[np.ndarray], window: int) -> float:
    """Largest count of steps, within any ``window`` consecutive steps, that one item was
    sampled in, divided by the window (over the whole run when it is shorter)."""
    if not step_ids:
        return 0.0
    w = min(window, len(step_ids))
    steps = np.concatenate([np.full(np.unique(x).size, t) for t, x in enumerate(step_ids)])
    items = np.concatenate([np.unique(x) for x in step_ids]).astype(np.int64)
    key = items * (len(step_ids) + w + 1) + steps  # (E,) sorted by item, then step
    key.sort()
    end = np.searchsorted(key, key + w)  # first entry of the same item at step >= s + w
    return float((end - np.arange(key.size)).max()) / w


def calibration_error(est: np.ndarray, true: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: bins of equal width over the estimate, weighted |mean
    estimate - mean true pass rate| per bin (true pass rates, not outcomes: no sampling noise)."""
    if est.size == 0:
        return float("nan")
    idx = np.minimum((est * bins).astype(np.int64), bins - 1)
    cnt = np.bincount(idx, minlength=bins)
    gap = np.abs(np.bincount(idx, weights=est - true, minlength=bins))
    return float(gap.sum() / cnt.sum())


def zpd_curriculum(policy: str, world: World, seed: int) -> CurriculumLike:
    """The default factory: ``zpd.Curriculum`` over the world's initial pool and features.

    ``oracle`` gets ``zpd.core.policies.Oracle`` reading the world's true pass rates.
    """
    import zpd
    from zpd.core.policies import Oracle

    chosen: object = Oracle(world.pass_rate) if policy == "oracle" else policy
    cfg = world.config
    return zpd.Curriculum(
        cfg.initial_items, policy=chosen, group_size=cfg.group_size, seed=seed,
        features=world.features(0, cfg.initial_items),
    )


def run_policy(
    world_config: WorldConfig,
    policy: str,
    seed: int,
    *,
    max_rounds: int = 10,
    factory: CurriculumFactory = zpd_curriculum,
    progress: Progress | None = None,
    coverage_window: int = 100,
) -> RunMetrics:
    """Train ``policy`` for ``world_config.steps`` steps in a fresh world; return its counts."""
    start = time.perf_counter()
    world = World(world_config.replace(seed=world_config.seed + seed))
    cur = factory(policy, world, seed)
    tally = _Tally(seen=np.zeros(world_config.num_items, dtype=bool))
    post_filter = bool(cur.requires_post_filter)
    steps = world_config.steps
    for step in range(steps):
        _train_step(cur, world, tally, max_rounds if post_filter else 1, post_filter)
        arrived = world.advance()
        if arrived:
            _add_arrivals(cur, world, arrived, tally)
        if progress is not None:
            progress(policy, seed, step + 1, steps)
    pool = np.arange(world.num_active)
    est = np.concatenate(tally.first_est) if tally.first_est else np.zeros(0)
    true = np.concatenate(tally.first_true) if tally.first_true else np.zeros(0)
    return RunMetrics(
        policy=policy, seed=seed, groups=tally.groups, informative=tally.informative,
        rollouts=tally.groups * world_config.group_size, near_impossible=tally.near_impossible,
        pq_sum=tally.pq_sum, seconds=time.perf_counter() - start,
        curriculum_seconds=tally.cur_seconds, final_mean_p=float(world.pass_rate(pool).mean()),
        distinct=int(tally.seen.sum()),
        max_window_share=max_window_share(tally.step_ids, coverage_window),
        mid_informative=_share(tally, 0.3, 0.7), late_informative=_share(tally, 0.7, 1.0),
        first_visit_ece=calibration_error(est, true),
        first_visit_bias=float(np.mean(est - true)) if est.size else float("nan"),
    )


def _share(tally: _Tally, lo: float, hi: float) -> float:
    """Informative fraction of the steps in [lo, hi) of the run."""
    n = len(tally.step_groups)
    a, b = int(round(lo * n)), max(int(round(hi * n)), int(round(lo * n)) + 1)
    groups = sum(tally.step_groups[a:b])
    return sum(tally.step_informative[a:b]) / groups if groups else 0.0


def _train_step(
    cur: CurriculumLike, world: World, tally: _Tally, rounds: int, post_filter: bool
) -> None:
    """One training step: sample, roll out, update; with a post-filter, refill to B groups."""
    batch = world.config.batch_size
    groups0, informative0 = tally.groups, tally.informative
    kept = 0
    step_ids = []
    estimate = getattr(cur, "estimate", None)
    for _ in range(rounds):
        t0 = time.perf_counter()
        ids = np.asarray(cur.sample(batch))  # (B,)
        tally.cur_seconds += time.perf_counter() - t0
        p = world.pass_rate(ids)  # (B,) true pass rates at sampling time
        first = ~tally.seen[ids]
        if estimate is not None and np.any(first):
            tally.first_est.append(np.asarray(estimate(ids[first]).mean, dtype=np.float64))
            tally.first_true.append(p[first])
        step_ids.append(ids)
        rewards = world.rollout(ids)  # (B, G)
        t0 = time.perf_counter()
        cur.update(ids, rewards)
        tally.cur_seconds += time.perf_counter() - t0
        signal = has_signal(rewards)  # (B,)
        if post_filter:  # keep informative groups up to B; the excess is truncated (DAPO)
            take = np.flatnonzero(signal)[: batch - kept]
            train_ids, train_rewards = ids[take], rewards[take]
            used = take.size
        else:
            train_ids, train_rewards, used = ids, rewards, int(signal.sum())
        world.train(train_ids, train_rewards)
        tally.groups += ids.size
        tally.seen[ids] = True
        tally.informative += used
        tally.near_impossible += int((p < NEAR_IMPOSSIBLE_P).sum())
        tally.pq_sum += float((p * (1.0 - p)).sum())
        kept += used
        if kept >= batch:
            break
    tally.step_ids.append(np.unique(np.concatenate(step_ids)))
    tally.step_groups.append(tally.groups - groups0)
    tally.step_informative.append(tally.informative - informative0)


def _add_arrivals(cur: CurriculumLike, world: World, arrived: int, tally: _Tally) -> None:
    first = world.num_active - arrived
    t0 = time.perf_counter()
    new = np.asarray(cur.add_items(arrived, features=world.features(first, world.num_active)))
    tally.cur_seconds += time.perf_counter() - t0
    if not np.array_equal(new, np.arange(first, world.num_active)):
        raise RuntimeError(
            "the curriculum numbered new items differently from the world "
            f"(expected ids {first}..{world.num_active - 1}); the runner needs consecutive ids"
        )


def run_comparison(
    world_config: WorldConfig,
    run_config: RunConfig = RunConfig(),
    *,
    factory: CurriculumFactory = zpd_curriculum,
    progress: Progress | None = None,
) -> list[RunMetrics]:
    """Every policy of ``run_config`` on every seed, one after another (policy-major order)."""
    return [
        run_policy(
            world_config, policy, seed, max_rounds=run_config.max_rounds, factory=factory,
            progress=progress, coverage_window=run_config.coverage_window,
        )
        for policy in run_config.policies
        for seed in run_config.seeds
    ]
