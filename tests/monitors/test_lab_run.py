"""`zpd watch` on a tiny lab run: the lab's GRPO loop hands its rollouts to the default suite."""

from __future__ import annotations

import json

import pytest

from zpd.cli.main import main
from zpd.monitors import FAMILIES, MonitorSuite, read_run


@pytest.mark.slow  # ~15 s on the shared 2-core CPU (a 2-step pretrain + 3 GRPO steps)
def test_watch_on_a_tiny_lab_run(tmp_path, capsys) -> None:
    from zpd.lab import tasks
    from zpd.lab.pretrain import PretrainConfig, pretrain
    from zpd.lab.rl import RLConfig, run_rl

    base = pretrain(PretrainConfig(steps=2, batch_size=8, preset="tiny", eval_items=1,
                                   eval_extra_digits=0), tmp_path / "base", progress=False)
    pool = tasks.make_pool(tasks.PoolConfig(), seed=0)
    cfg = RLConfig(group_size=4, prompts_per_step=8, rollout_budget=4 * 8 * 3, eval_every=100)
    res = run_rl(cfg, base, pool.train, tmp_path / "run", monitors=[MonitorSuite.default()])
    assert res.steps == 3

    health = read_run(tmp_path / "run")
    assert health.records == 4 and health.last_step == 3  # step 0 is the initial evaluation
    fams = {f.name: f for f in health.families}
    assert list(fams)[: len(FAMILIES)] == list(FAMILIES)
    for name in ("groups", "repetition", "accidental", "kl", "formats", "diversity", "coupling"):
        assert fams[name].verdict != "not logged", name
    # policy == base before any useful update: KL is ~0, and k3 is never negative
    assert 0 <= fams["kl"].metrics["k3"].max < 1e-3
    assert "curriculum" in health.other

    assert main(["watch", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    for name in FAMILIES:
        assert f"] {name}\n" in out
    assert main(["watch", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 4
