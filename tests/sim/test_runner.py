"""The runner with the real zpd.Curriculum at tiny size: accounting, DAPO refills, arrivals."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.sim import (
    RunConfig,
    World,
    check_floors,
    preset_config,
    run_comparison,
    run_policy,
    summarize,
    zpd_curriculum,
)

TINY = preset_config("default", num_items=3000, steps=30, batch_size=32, group_size=4,
                     arrival_fraction=0.2, arrival_waves=2)


@pytest.fixture(scope="module")
def runs() -> dict[str, list]:  # type: ignore[type-arg]
    out = run_comparison(TINY, RunConfig(policies=("uniform", "dapo", "oracle", "zpd"),
                                         seeds=(0, 1)))
    by: dict[str, list] = {}  # type: ignore[type-arg]
    for r in out:
        by.setdefault(r.policy, []).append(r)
    return by


def test_every_policy_and_seed_is_run_with_consistent_counts(runs: dict[str, list]) -> None:  # type: ignore[type-arg]
    assert set(runs) == {"uniform", "dapo", "oracle", "zpd"}
    for name, group in runs.items():
        assert [r.seed for r in group] == [0, 1]
        for r in group:
            assert r.rollouts == r.groups * TINY.group_size
            assert 0 <= r.near_impossible <= r.groups
            assert 0 <= r.informative <= r.groups
            assert 0.0 < r.mean_pq <= 0.25
            assert 0 < r.distinct <= min(r.groups, TINY.num_items)
            if name != "dapo":  # one batch per step, no refills
                assert r.groups == TINY.steps * TINY.batch_size


def test_dapo_pays_for_refills_and_trains_on_at_most_a_batch(runs: dict[str, list]) -> None:  # type: ignore[type-arg]
    for r in runs["dapo"]:
        assert r.groups > TINY.steps * TINY.batch_size  # zero-variance groups were resampled
        assert r.informative <= TINY.steps * TINY.batch_size
    uniform = np.mean([r.informative_fraction for r in runs["uniform"]])
    dapo = np.mean([r.informative_fraction for r in runs["dapo"]])
    assert dapo <= uniform + 0.05  # dapo selects uniformly: it cannot beat uniform per rollout


def test_oracle_beats_uniform_and_ratios_are_to_the_oracle(runs: dict[str, list]) -> None:  # type: ignore[type-arg]
    summaries = {s.policy: s for s in summarize([r for g in runs.values() for r in g])}
    oracle = summaries["oracle"].stats
    uniform = summaries["uniform"].stats
    assert oracle["informative_fraction"].mean > uniform["informative_fraction"].mean + 0.2
    assert oracle["near_impossible_share"].mean < uniform["near_impossible_share"].mean
    # uniform spreads over the pool; the oracle keeps returning to the best items
    assert oracle["new_item_share"].mean < uniform["new_item_share"].mean
    assert summaries["oracle"].ratio_to_oracle == pytest.approx(1.0)
    assert summaries["uniform"].ratio_to_oracle == pytest.approx(
        uniform["informative_fraction"].mean / oracle["informative_fraction"].mean)
    names = {c.name for c in check_floors(list(summaries.values()))}
    assert names == {"informative vs oracle", "informative vs uniform", "near-impossible share"}


def test_a_hopeless_world_never_fills_dapos_batch() -> None:
    world = TINY.replace(hard_share=1.0, hard_gap=25.0, steps=3, arrival_fraction=0.0)
    run = run_policy(world, "dapo", 0, max_rounds=4)
    assert run.groups == 3 * 4 * TINY.batch_size  # every round of every step was paid for
    assert run.informative == 0
    assert run.near_impossible_share == 1.0


def test_runs_are_reproducible_per_seed() -> None:
    small = TINY.replace(steps=8)
    a, b = run_policy(small, "zpd", 1), run_policy(small, "zpd", 1)
    assert (a.informative, a.near_impossible, a.pq_sum) == (b.informative, b.near_impossible,
                                                            b.pq_sum)


def test_default_factory_builds_each_named_policy_with_world_features() -> None:
    world = World(TINY)
    for name in ("static", "oracle", "mopps"):
        cur = zpd_curriculum(name, world, 0)
        ids = cur.sample(16)
        assert ids.shape == (16,) and ids.max() < world.num_active
        cur.update(ids, world.rollout(ids))


def test_window_share_and_calibration_error_are_exact_on_small_cases() -> None:
    from zpd.sim.runner import calibration_error, max_window_share

    draws = [np.array([1, 2]), np.array([1, 3]), np.array([4]), np.array([1])]
    assert max_window_share(draws, 2) == 1.0  # item 1 in both of steps 0-1
    assert max_window_share(draws, 4) == 0.75
    assert max_window_share([np.array([5])] * 3 + [np.array([6])] * 3, 3) == 1.0
    est = np.array([0.05, 0.15, 0.95])
    true = np.array([0.0, 0.0, 1.0])
    assert calibration_error(est, true) == pytest.approx((0.05 + 0.15 + 0.05) / 3)


def test_coverage_metrics_of_a_run_are_filled() -> None:
    world = preset_config("small-pool")
    run = run_policy(world, "zpd", 0, coverage_window=8)
    assert 0 < run.max_window_share <= 0.25 + 1e-9  # the default repeat cap: 1 in 4 draws
    assert 0.0 <= run.first_visit_ece <= 1.0 and 0 < run.late_informative <= 1
