"""The learning lab: the ladder (noise per digit, pool, a tiny base's ordered pass rates), the
experiment as a file (round trip, clear errors), both protocols' rollout accounting, and a
seeded tiny experiment against its pinned summary."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from zpd.lab import tasks
from zpd.lab.experiments import (
    ExperimentConfig,
    ExperimentConfigError,
    ProtocolConfig,
    arms,
    base_profile,
    demo_config,
    load_experiment,
    run_experiment,
)
from zpd.lab.pretrain import PretrainConfig, pretrain
from zpd.lab.rl import RLConfig, run_rl

SMALL = tasks.LadderConfig(levels=(2, 6), digit_noise=(0.0, 0.1, 0.3, 0.5, 0.7),
                           items_per_level=12, eval_per_level=16,
                           prior=(tasks.TaskConfig(ops=("rev",), formats=("reversed",),
                                                   digits=(2, 3), n_items=8),))


@pytest.fixture(scope="module")
def ladder_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = PretrainConfig(mix=SMALL.base_mix(), preset="tiny", steps=400, batch_size=32, lr=3e-3,
                         eval_items=2, eval_extra_digits=0, warmup_steps=10)
    return pretrain(cfg, tmp_path_factory.mktemp("ladder"), progress=False)


def test_digit_noise_hits_each_position_at_its_rate() -> None:
    rng = np.random.default_rng(0)
    answer = "0123456789"
    noise = (0.0, 0.1, 0.5, 0.9)
    wrong = np.zeros(len(answer))
    for _ in range(4000):
        out = tasks.corrupt_digits(answer, noise, rng)
        wrong += np.array([a != b for a, b in zip(answer, out)])
    rate = wrong / 4000
    assert rate[0] == 0.0
    assert abs(rate[1] - 0.1) < 0.02 and abs(rate[2] - 0.5) < 0.03
    assert np.all(np.abs(rate[3:] - 0.9) < 0.03)  # beyond the tuple: its last value
    with pytest.raises(tasks.TaskError, match="digit_noise"):
        tasks.TaskConfig(digit_noise=(0.95,))


def test_ladder_pool_has_every_rung_and_disjoint_held_out_sets() -> None:
    pool = tasks.make_ladder(SMALL, seed=3)
    assert len(pool.train) == 5 * 12 and [it.item_id for it in pool.train] == list(range(60))
    assert sorted(np.unique(pool.rung_of).tolist()) == [2, 3, 4, 5, 6]
    assert all(it.n_digits == d for it, d in zip(pool.train, pool.rung_of))
    prompts = [it.prompt for it in pool.train]
    held = [it.prompt for items in pool.eval_rungs.values() for it in items] + [
        it.prompt for it in pool.eval_prior]
    assert len(set(prompts + held)) == len(prompts) + len(held)
    assert SMALL.base_mix()[0].digit_noise == SMALL.digit_noise
    with pytest.raises(tasks.TaskError, match="levels"):
        tasks.LadderConfig(levels=(2, 11))


def test_tiny_base_pass_rates_fall_rung_by_rung(ladder_base: Path, tmp_path: Path) -> None:
    pool = tasks.make_ladder(SMALL, seed=0)
    prof = base_profile(ladder_base, pool, 1.0, tmp_path)
    p1, p8 = prof["pass@1"], prof["pass@8"]
    assert prof["rungs"] == [2, 3, 4, 5, 6]
    assert p1[0] > 0.6 and p1[-1] < 0.15  # clean rung 2, noisy rung 6
    assert all(a >= b - 0.1 for a, b in zip(p1, p1[1:]))  # ordered (16 items per rung)
    assert all(k >= one for k, one in zip(p8, p1)) and max(np.subtract(p8, p1)) > 0.2
    again = base_profile(ladder_base, pool, 1.0, tmp_path)  # cached by base
    assert again == prof


def test_experiment_files_round_trip_and_bad_ones_are_clear(tmp_path: Path) -> None:
    cfg = demo_config()
    assert cfg.seeds == (0, 1, 2) and [p.name for p in cfg.protocols] == [
        "equal-budget", "filled-batches"]
    assert len(arms(cfg)) == 27 and len(arms(demo_config(quick=True))) == 4
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_experiment(path) == cfg
    toml = tmp_path / "exp.toml"
    toml.write_text('seeds = [4]\n[rl]\nrollout_budget = 256\n[[protocols]]\nname = "a"\n'
                    'baseline = "uniform"\npolicies = ["uniform", "zpd"]\n')
    small = load_experiment(toml)
    assert small.seeds == (4,) and small.rl.rollout_budget == 256
    assert small.pretrain == cfg.pretrain  # the ladder's own base when the file omits it
    bad = {
        "x = 1\n": "unknown key",
        "[rl]\nlr = -1.0\n": "lr",
        "[rl]\npolicy = 'zpd'\n": "rl.policy",
        "[ladder]\nlevels = [2, 40]\n": "levels",
        "[ladder]\ncolour = 1\n": "ladder.colour",
        "[[protocols]]\nname='a'\nbaseline='dapo'\npolicies=['zpd']\n": "baseline",
        "[[protocols]]\nname='a'\nbaseline='nope'\npolicies=['nope']\n": "nope",
        "seeds = [1, 1]\n": "seeds",
        "[rl\n": "not valid TOML",
    }
    for text, needle in bad.items():
        toml.write_text(text)
        with pytest.raises(ExperimentConfigError, match=needle) as err:
            load_experiment(toml)
        assert str(toml) in str(err.value)
    with pytest.raises(ExperimentConfigError, match="cannot read"):
        load_experiment(tmp_path / "missing.toml")


@pytest.mark.parametrize("post_filter", [False, True])
def test_both_protocols_pay_for_every_rollout(ladder_base: Path, tmp_path: Path,
                                              post_filter: bool) -> None:
    pool = tasks.make_ladder(SMALL, seed=0)
    cfg = RLConfig(policy="zpd", group_size=4, prompts_per_step=6, rollout_budget=240,
                   eval_every=100, post_filter=post_filter, seed=0)
    res = run_rl(cfg, ladder_base, pool.train, tmp_path / str(post_filter))
    steps = [r for r in res.rows if "curriculum/groups_sampled" in r]
    sampled = sum(r["curriculum/groups_sampled"] for r in steps) * cfg.group_size
    kept = sum(r["curriculum/groups_kept"] for r in steps) * cfg.group_size
    last = res.rows[-1]
    assert res.rollouts == sampled == last["curriculum/rollouts"] == 240  # every one paid
    assert last["curriculum/rollouts_dropped"] == sampled - kept
    if post_filter:  # dropped groups are the zero-variance ones, and they are paid for
        assert kept < sampled and all(r["curriculum/groups_kept"] <= 6 for r in steps)
    else:
        assert kept == sampled and last["curriculum/rollouts_dropped"] == 0
    assert {"lab/time/generation", "lab/time/training", "lab/time/curriculum"} <= set(last)


# A seeded tiny experiment; pins measured on this project's 2-core CPU (torch 2.13, one thread).
PINNED = {  # (protocol, policy): (final held-out accuracy, informative fraction)
    ("equal-budget", "uniform"): (0.1958, 0.1875), ("equal-budget", "zpd"): (0.2042, 0.2292),
    ("filled-batches", "dapo"): (0.2063, 0.0926), ("filled-batches", "zpd+filter"): (0.2063, 0.3871),
}


def test_seeded_tiny_experiment_reproduces_its_pinned_summary(ladder_base: Path,
                                                              tmp_path: Path) -> None:
    cfg = ExperimentConfig(
        pretrain=PretrainConfig(mix=SMALL.base_mix(), preset="tiny", steps=400, batch_size=32,
                                lr=3e-3, eval_items=2, eval_extra_digits=0, warmup_steps=10),
        ladder=SMALL,
        rl=RLConfig(group_size=4, prompts_per_step=6, rollout_budget=192, eval_every=4,
                    lr=1e-3),
        protocols=(ProtocolConfig("equal-budget", "uniform", ("uniform", "zpd")),
                   ProtocolConfig("filled-batches", "dapo", ("dapo", "zpd"), post_filter=True)),
        seeds=(0,), monitors=False)
    run_experiment(cfg, tmp_path / "exp", progress=False, base_dir=ladder_base.parent,
                   log=lambda s: None)
    summary = json.loads((tmp_path / "exp" / "summary.json").read_text())
    got = {(p, k): (e["final"], e["informative_frac"])
           for p, s in summary["protocols"].items() for k, e in s["policies"].items()}
    assert set(got) == set(PINNED)
    for key, (final, informative) in PINNED.items():
        assert got[key][0] == pytest.approx(final, abs=0.04), key
        assert got[key][1] == pytest.approx(informative, abs=0.06), key
    # rerunning finds every arm done and rewrites the same summary
    run_experiment(cfg, tmp_path / "exp", progress=False, base_dir=ladder_base.parent,
                   log=lambda s: None)
    again = json.loads((tmp_path / "exp" / "summary.json").read_text())
    assert {p: {k: e["final"] for k, e in s["policies"].items()}
            for p, s in again["protocols"].items()} == {
        p: {k: e["final"] for k, e in s["policies"].items()}
        for p, s in summary["protocols"].items()}
    assert dataclasses.replace(cfg, seeds=(0,)) == cfg
