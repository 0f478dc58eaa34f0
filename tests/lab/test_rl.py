"""GRPO under a curriculum at tiny size: rollout accounting, dapo's paid drops, the update's
direction, KL to the base, monitors and sinks, config validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zpd
from zpd.lab import tasks
from zpd.lab.experiments import eval_sets
from zpd.lab.rl import ListSink, RLConfig, RLConfigError, _make_context, _policy_update, run_rl
from zpd.monitors import MonitorSuite

POOL = tasks.PoolConfig(
    easy=tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(1, 2), n_items=12),
    band=tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(3, 3), n_items=12),
    hard=tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(5, 6), n_items=12),
    prior=(tasks.TaskConfig(ops=("add",), formats=("direct",), digits=(1, 1), n_items=8),),
    n_eval=8,
)
SMALL = dict(group_size=4, prompts_per_step=6, rollout_budget=72, eval_every=2, lr=1e-3)






@pytest.fixture(scope="module")
def pool() -> tasks.Pool:
    return tasks.make_pool(POOL, seed=0)


def test_uniform_smoke_counts_rollouts_and_logs_every_step(base: Path, pool: tasks.Pool,
                                                           tmp_path: Path) -> None:
    tiers = [tasks.BANDS[b] for b in pool.band_of]
    spent: list[int] = []
    res = run_rl(RLConfig(policy="uniform", **SMALL), base, pool.train, tmp_path,
                 eval_sets=eval_sets(pool), tiers=tiers, progress=spent.append)
    assert res.steps == 3 and res.rollouts == 72 and spent == [24, 24, 24]
    assert [r["step"] for r in res.rows] == [0, 1, 2, 3]
    assert [r["curriculum/rollouts"] for r in res.rows] == [0, 24, 48, 72]
    evals = [r["step"] for r in res.rows if "lab/eval/inband/sampled" in r]
    assert evals == [0, 2, 3]  # step 0, every eval_every, and the last
    assert "lab/eval/prior/greedy" in res.rows[0] and "lab/eval/prior/greedy" in res.rows[-1]
    assert "lab/eval/prior/greedy" not in res.rows[2]
    for r in res.rows[1:]:
        assert 0 <= r["curriculum/informative_frac"] <= 1
        shares = [v for k, v in r.items() if k.startswith("lab/format_share/")]
        assert sum(shares) == pytest.approx(1.0)
        tier_share = sum(r[f"curriculum/share_{t}"] for t in tasks.BANDS)
        assert tier_share == pytest.approx(1.0)
        assert r["lab/kl_base"] >= 0 and "lab/shortcut/any" in r
        assert r["curriculum/rollouts_dropped"] == 0
    # the default sink is the monitors' JSONL (readable by `zpd watch`)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [0, 1, 2, 3]
    assert lines[-1]["metrics"]["curriculum/rollouts"] == 72
    assert json.loads((tmp_path / "run.json").read_text())["rollouts"] == 72
    # the retention monitor runs live on the prior-skill evaluations, into the same rows
    retained = [r["step"] for r in res.rows if any(k.startswith("health/retention/prior")
                                                   for k in r)]
    assert retained == evals
    assert any(k.startswith("health/retention/") for k in lines[-1]["metrics"])


def test_dapo_pays_for_dropped_groups(base: Path, pool: tasks.Pool, tmp_path: Path) -> None:
    cfg = RLConfig(policy="dapo", **{**SMALL, "rollout_budget": 200, "max_refill_rounds": 3})
    res = run_rl(cfg, base, pool.train, tmp_path)
    G = cfg.group_size
    steps = res.rows[1:]
    assert res.rollouts <= 200 and res.rollouts > 200 - G
    dropped = sum((r["curriculum/groups_sampled"] - r["curriculum/groups_kept"]) * G for r in steps)
    assert steps[-1]["curriculum/rollouts_dropped"] == dropped > 0
    paid = sum(r["curriculum/groups_sampled"] * G for r in steps)
    assert paid == res.rollouts
    for r in steps:
        assert r["curriculum/groups_kept"] <= cfg.prompts_per_step
        assert r["curriculum/groups_sampled"] <= cfg.prompts_per_step * cfg.max_refill_rounds


def test_real_monitor_suite_and_sink_receive_each_step(base: Path, pool: tasks.Pool,
                                                       tmp_path: Path) -> None:
    sink = ListSink()
    seen: list[Any] = []

    def record(batch: Any, context: Any) -> dict[str, float]:
        seen.append((batch, context))
        return {"test/rows": float(batch.num_rollouts)}

    cfg = RLConfig(policy="zpd", **{**SMALL, "rollout_budget": 48})
    res = run_rl(cfg, base, pool.train, tmp_path, sink, monitors=[MonitorSuite.default(), record])
    assert sink.rows == res.rows and len(sink.rows) == 3
    assert all(r["test/rows"] == 24.0 for r in sink.rows[1:])
    assert any(k.startswith("health/") for k in sink.rows[1])
    batch, context = seen[0]
    assert batch.num_groups == 6 and context.step == 1
    assert batch.base_logprobs.shape == batch.logprobs.shape == batch.token_mask.shape
    ids = np.unique(batch.item_ids)
    assert np.all((context.pass_rate(ids) >= 0) & (context.pass_rate(ids) <= 1))
    assert not (tmp_path / "metrics.jsonl").exists()  # a sink was given: no default file


def test_policy_gradient_step_raises_the_rewarded_completion(base: Path, pool: tasks.Pool) -> None:
    from zpd.lab.rl import _logprobs, _rollout

    torch.manual_seed(0)
    cfg = RLConfig(policy="uniform", group_size=8, prompts_per_step=1, lr=3e-4, rollout_budget=8)
    ctx = _make_context(cfg, base, pool.train, None, {})
    for i in range(len(pool.train)):  # a group whose samples differ
        groups = _rollout(ctx, np.array([i]))
        if len(set(groups.texts)) > 1:
            break
    chosen = np.array([t == groups.texts[0] for t in groups.texts])  # (G,)
    rewards = chosen[None, :].astype(float)  # pretend exactly the first text is right
    groups.rewards = rewards
    groups.advantages = np.asarray(zpd.advantage.grpo(rewards))
    before = _logprobs(ctx.model, groups.prompt_ids, groups.completion_ids, groups.lengths).sum(1)
    for _ in range(3):
        _policy_update(ctx, groups)
    after = _logprobs(ctx.model, groups.prompt_ids, groups.completion_ids, groups.lengths).sum(1)
    delta = (after - before).numpy()
    assert delta[chosen].min() > 0.05
    assert delta[~chosen].mean() < 0.0
    base_lp = _logprobs(ctx.base, groups.prompt_ids, groups.completion_ids, groups.lengths).sum(1)
    torch.testing.assert_close(base_lp, before)  # the frozen base did not move


def test_kl_is_zero_before_training_and_grows_with_updates(base: Path, pool: tasks.Pool,
                                                          tmp_path: Path) -> None:
    cfg = RLConfig(policy="uniform", **{**SMALL, "rollout_budget": 96, "lr": 1e-2})
    res = run_rl(cfg, base, pool.train, tmp_path)
    kls = [r["lab/kl_base"] for r in res.rows[1:]]
    assert kls[0] == pytest.approx(0.0, abs=1e-5)  # first rollouts come from the base itself
    assert kls[-1] > 1e-3


@pytest.mark.parametrize(
    ("override", "text"),
    [({"policy": "oracle"}, "oracle"), ({"group_size": 1}, "group_size"),
     ({"advantage": "ppo"}, "advantage"), ({"rollout_budget": 4, "group_size": 8}, "budget"),
     ({"lr": -1.0}, "lr"), ({"max_new_tokens": 0}, "max_new_tokens")],
)
def test_bad_rl_settings_raise_clear_errors(override: dict[str, Any], text: str) -> None:
    with pytest.raises(RLConfigError, match=text) as exc:
        RLConfig(**override)
    assert isinstance(exc.value, ValueError)


def test_unknown_policy_is_refused_at_construction() -> None:
    with pytest.raises(RLConfigError, match="nope"):
        RLConfig(policy="nope")
    assert RLConfig(policy="MoPPS").policy == "mopps"


def test_drift_budget_turns_kl_into_curriculum_pressure(base: Path, pool: tasks.Pool,
                                                        tmp_path: Path) -> None:
    cfg = RLConfig(policy="zpd", drift_budget=1e-3, **{**SMALL, "rollout_budget": 96, "lr": 1e-2})
    res = run_rl(cfg, base, pool.train, tmp_path)
    pressure = [r["curriculum/drift_pressure"] for r in res.rows[1:]]
    assert pressure[0] == 0.0  # no drift before the first update
    assert pressure[-1] == 1.0  # KL far above a 0.001 budget
    assert "curriculum/drift_pressure" not in run_rl(
        RLConfig(policy="zpd", **{**SMALL, "rollout_budget": 24}), base, pool.train,
        tmp_path / "off").rows[1]
    with pytest.raises(RLConfigError, match="drift_budget"):
        RLConfig(drift_budget=0.0)


_CLOCK = ("lab/seconds", "lab/step_seconds", "lab/time/")


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without wall-clock fields, NaN as None (NaN != NaN would fail any comparison)."""
    return [{k: None if isinstance(v, float) and v != v else v for k, v in r.items()
             if not k.startswith(_CLOCK)} for r in rows]


@pytest.mark.parametrize("policy", ["zpd", "dapo"])
def test_an_interrupted_run_resumes_with_the_same_future(base: Path, pool: tasks.Pool,
                                                         tmp_path: Path, policy: str) -> None:
    cfg = RLConfig(policy=policy, group_size=4, prompts_per_step=6, rollout_budget=300,
                   eval_every=2, lr=1e-3, checkpoint_every=2, drift_budget=0.05)
    sets = eval_sets(pool)
    kw = dict(eval_sets=sets, monitors=(MonitorSuite.default(None, steer_curriculum=False),))
    clean = run_rl(cfg, base, pool.train, tmp_path / "clean", **kw)

    calls = []

    def killer(paid: int) -> None:
        calls.append(paid)
        if len(calls) == 3:  # after step 3's row was logged; the last checkpoint is step 2
            raise KeyboardInterrupt

    out = tmp_path / "killed"
    kw["monitors"] = (MonitorSuite.default(None, steer_curriculum=False),)
    with pytest.raises(KeyboardInterrupt):
        run_rl(cfg, base, pool.train, out, progress=killer, **kw)
    logged = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == [0, 1, 2, 3] and clean.steps > 4
    kw["monitors"] = (MonitorSuite.default(None, steer_curriculum=False),)
    spent: list[int] = []
    resumed = run_rl(cfg, base, pool.train, out, progress=spent.append, **kw)
    assert spent[0] == clean.rows[2]["curriculum/rollouts"]  # the bar resumes at step 2's count
    assert _comparable(resumed.rows) == _comparable(clean.rows)
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(clean.steps + 1))  # no step logged twice
    # other settings do not resume: the run starts over
    other = RLConfig(**{**cfg.to_dict(), "curriculum_kwargs": {}, "lr": 2e-3})
    again = run_rl(other, base, pool.train, out, **kw)
    assert [r["step"] for r in again.rows][0] == 0 and again.rows[0]["curriculum/rollouts"] == 0


def test_a_damaged_checkpoint_is_a_clear_error(base: Path, pool: tasks.Pool,
                                                tmp_path: Path) -> None:
    cfg = RLConfig(policy="uniform", checkpoint_every=1, **SMALL)
    run_rl(cfg, base, pool.train, tmp_path)
    latest = json.loads((tmp_path / "state" / "latest.json").read_text())["dir"]
    (tmp_path / "state" / latest / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(zpd.StateError, match="unreadable"):
        run_rl(cfg, base, pool.train, tmp_path)
