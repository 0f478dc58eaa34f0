"""The simulated world: drift, practice, arrivals, the near-impossible tail, features, rewards."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.sim import (
    NEAR_IMPOSSIBLE_P,
    Preset,
    RewardKind,
    SimConfigError,
    World,
    WorldConfig,
    has_signal,
    preset_config,
)

SMALL = WorldConfig(num_items=6000, steps=100, batch_size=64, seed=3)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


@pytest.mark.parametrize(
    "changes",
    [
        {"num_items": 0},
        {"group_size": 1},
        {"drift_spread": 1.5},
        {"hard_share": -0.1},
        {"missing_rate": float("nan")},
        {"arrival_start": 0.8, "arrival_end": 0.2},
        {"arrival_fraction": 1.0},
        {"reward_kind": "ternary"},
        {"steps": 2.5},
        {"seed": -1},
    ],
)
def test_bad_config_raises_a_value_error(changes: dict[str, object]) -> None:
    with pytest.raises(SimConfigError) as err:
        WorldConfig(**changes)  # type: ignore[arg-type]
    assert isinstance(err.value, ValueError)
    assert str(err.value)


def test_replace_rejects_unknown_fields_and_revalidates() -> None:
    with pytest.raises(SimConfigError, match="unknown"):
        SMALL.replace(num_itemz=5)
    with pytest.raises(SimConfigError):
        SMALL.replace(num_items=-5)
    assert SMALL.replace(steps=7).steps == 7
    assert WorldConfig(reward_kind="fractional").reward_kind is RewardKind.FRACTIONAL


def test_drift_raises_pass_rates_at_category_specific_rates() -> None:
    world = World(SMALL.replace(arrival_fraction=0.0, practice_effect=0.0))
    ids = np.arange(world.num_active)
    before = world.pass_rate(ids)
    theta_before = world.abilities()
    for _ in range(50):
        world.advance()
    after = world.pass_rate(ids)
    gains = world.abilities() - theta_before  # (C,)
    assert np.all(after >= before - 1e-12)
    assert after.mean() > before.mean() + 0.02
    assert np.all(gains > 0)
    assert gains.max() > 1.5 * gains.min()  # categories drift differently


def test_practice_raises_pass_rate_of_items_trained_with_signal_only() -> None:
    world = World(SMALL.replace(drift_rate=0.0))
    ids = np.arange(200)
    before = world.pass_rate(np.arange(world.num_active))
    mixed = np.tile([0.0, 1.0], (100, SMALL.group_size // 2))  # (100, G) with variance
    flat = np.zeros((100, SMALL.group_size))  # (100, G) all failed: no GRPO signal
    world.train(ids, np.concatenate([mixed, flat]))
    after = world.pass_rate(np.arange(world.num_active))
    assert np.all(after[:100] > before[:100])
    np.testing.assert_array_equal(after[100:], before[100:])
    for _ in range(20):  # practice saturates at practice_cap
        world.train(ids[:1], mixed[:1])
    assert world.latent()["practice"][0] == pytest.approx(SMALL.practice_cap)


def test_arrivals_extend_the_pool_within_the_window() -> None:
    cfg = SMALL.replace(arrival_fraction=0.3, arrival_waves=3, arrival_start=0.2,
                        arrival_end=0.6)
    world = World(cfg)
    assert world.num_active == cfg.initial_items == cfg.num_items - cfg.arriving_items
    arrived_at = {}
    for _ in range(cfg.steps):
        n = world.advance()
        if n:
            arrived_at[world.step] = n
    assert sum(arrived_at.values()) == cfg.arriving_items
    assert world.num_active == cfg.num_items
    assert len(arrived_at) == 3
    assert min(arrived_at) >= 20 and max(arrived_at) <= 60
    feats = world.features(cfg.initial_items, cfg.num_items)
    assert all(len(v) == cfg.arriving_items for v in feats.values())


def test_inactive_items_cannot_be_rolled_out() -> None:
    world = World(SMALL)
    with pytest.raises(SimConfigError, match="active pool"):
        world.pass_rate(np.array([SMALL.num_items - 1]))
    with pytest.raises(SimConfigError):
        world.rollout(np.array([0.5]))  # type: ignore[arg-type]


def test_near_impossible_tail_stays_out_of_reach_through_the_run() -> None:
    world = World(SMALL.replace(arrival_fraction=0.0))
    hard = world.latent()["hard"]
    assert abs(hard.mean() - SMALL.hard_share) < 0.03
    for _ in range(SMALL.steps):
        world.advance()
    p = world.pass_rate(np.arange(world.num_active))
    assert np.all(p[hard] < NEAR_IMPOSSIBLE_P)
    assert (p < NEAR_IMPOSSIBLE_P).mean() >= 0.9 * SMALL.hard_share


def test_features_are_informative_noisy_and_partly_missing() -> None:
    world = World(SMALL.replace(arrival_fraction=0.0, hard_disguised=0.0))
    feats = world.features()
    latent = world.latent()
    np.testing.assert_array_equal(feats["category"], latent["category"])
    assert feats["category"].dtype == np.int64
    for name in ("difficulty", "length"):
        miss = np.isnan(feats[name])
        assert abs(miss.mean() - SMALL.missing_rate) < 0.03
    ok = ~np.isnan(feats["difficulty"])
    rho = _spearman(feats["difficulty"][ok], latent["difficulty"][ok])
    assert 0.5 < rho < 0.99  # informative, but noisy
    ok = ~np.isnan(feats["length"])
    assert _spearman(feats["length"][ok], latent["difficulty"][ok]) > 0.2


def test_binary_rollouts_follow_true_pass_rates() -> None:
    world = World(SMALL)
    ids = np.repeat(np.arange(50), 40)  # (2000,)
    rewards = world.rollout(ids)
    assert rewards.shape == (ids.size, SMALL.group_size)
    assert set(np.unique(rewards)) <= {0.0, 1.0}
    observed = rewards.reshape(50, -1).mean(axis=1)  # 320 draws per item
    assert np.max(np.abs(observed - world.pass_rate(np.arange(50)))) < 0.12


def test_fractional_rollouts_are_shares_of_parts() -> None:
    world = World(preset_config(Preset.FRACTIONAL_REWARDS, num_items=3000))
    rewards = world.rollout(np.arange(500))
    parts = world.config.reward_parts
    np.testing.assert_allclose(rewards * parts, np.round(rewards * parts))
    assert len(np.unique(rewards)) > 2
    assert has_signal(rewards).mean() > has_signal(np.floor(rewards)).mean()


def test_same_seed_same_world_and_draws() -> None:
    a, b = World(SMALL), World(SMALL)
    ids = np.arange(300)
    np.testing.assert_array_equal(a.rollout(ids), b.rollout(ids))
    c = World(SMALL.replace(seed=4))
    assert not np.array_equal(a.pass_rate(ids), c.pass_rate(ids))


def test_has_signal_marks_groups_with_reward_variance() -> None:
    rewards = np.array([[0, 0, 0], [1, 1, 1], [0, 1, 0], [0.5, 0.5, 0.25]])
    np.testing.assert_array_equal(has_signal(rewards), [False, False, True, True])


@pytest.mark.parametrize("preset", list(Preset))
def test_every_preset_builds_a_world(preset: Preset) -> None:
    cfg = preset_config(preset, num_items=2000, steps=20)
    world = World(cfg)
    assert world.num_active == cfg.initial_items
    assert np.all((world.rollout(np.arange(10)) >= 0) & (world.rollout(np.arange(10)) <= 1))


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(SimConfigError, match="cold-start"):
        preset_config("warm-start")


def test_disguised_tail_items_carry_ordinary_looking_features() -> None:
    world = World(SMALL.replace(arrival_fraction=0.0, hard_disguised=0.5, missing_rate=0.0))
    lat, diff = world.latent(), world.features()["difficulty"]
    disguised, visible = lat["disguised"], lat["hard"] & ~lat["disguised"]
    assert abs(disguised.sum() - 0.5 * lat["hard"].sum()) < 0.1 * lat["hard"].sum()
    assert np.all(lat["hard"][disguised])
    ordinary = diff[~lat["hard"]].mean()
    assert abs(diff[disguised].mean() - ordinary) < 0.2
    assert diff[visible].mean() > ordinary + 2.0


def test_offline_pass_rate_feature_estimates_the_base_models_pass_rate() -> None:
    cfg = SMALL.replace(arrival_fraction=0.0, offline_samples=16, missing_rate=0.0)
    world = World(cfg)
    prior = world.features()["prior_pass_rate"]
    np.testing.assert_allclose(prior * 16, np.round(prior * 16))
    p0 = world.pass_rate(np.arange(world.num_active))
    assert np.abs(prior - p0).mean() < 0.1
    assert "prior_pass_rate" not in World(SMALL).features()


def test_endogenous_ability_grows_only_through_informative_training() -> None:
    cfg = SMALL.replace(endogenous_rate=0.05, arrival_fraction=0.0, practice_effect=0.0)
    idle, busy = World(cfg), World(cfg)
    ids = np.arange(64)
    start = idle.abilities().copy()
    for _ in range(20):
        idle.train(ids, np.zeros((64, cfg.group_size)))  # zero-variance groups teach nothing
        idle.advance()
        busy.train(ids, np.tile([1.0, 0.0] * 4, (64, 1)))  # every group informative
        busy.advance()
    assert np.allclose(idle.abilities(), start)  # no exogenous drift
    gain = busy.abilities() - start
    assert np.all(gain > 0) and np.all(gain <= 20 * 3 * cfg.endogenous_rate + 1e-9)
