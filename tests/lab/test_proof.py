"""The lab proof at tiny size: both arm kinds run with the monitor suite, the summary's
structure, the arms' advantage wiring (tracker-informed never amplifies a lone success the way
GRPO does), the retention test on evaluation counts, and config validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from zpd.lab import tasks
from zpd.lab.proof import (
    PRIOR_SETS,
    TABLE_ROWS,
    AdvantageLedger,
    ProofArm,
    ProofConfig,
    ProofConfigError,
    add_to_report,
    format_table,
    retention_test,
    run_proof,
)
from zpd.monitors import MonitorContext, RolloutBatch

POOL = tasks.PoolConfig(
    easy=tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(1, 2), n_items=8),
    band=tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(3, 3), n_items=8),
    hard=tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(5, 6), n_items=8),
    prior=(tasks.TaskConfig(ops=("add",), formats=("direct",), digits=(1, 1), n_items=8),),
    n_eval=8,
)
# Tracker-informed advantage of a success: (1 - m) * sqrt(m (1 - m)) / 0.25 <= 3 sqrt(3) / 4
# (at m = 1/4), below GRPO's sqrt(G - 1) for a lone success whenever G >= 3.
TRACKER_MAX = 3 * math.sqrt(3) / 4






def tiny_config(**kw: object) -> ProofConfig:
    # "near-impossible" here is 3-digit reversal the tiny base half-solves, so that groups mix
    defaults: dict[str, object] = dict(
        pool=POOL, n_eval=8, group_size=4, prompts_per_step=6, rollout_budget=72,
        eval_every=2, lr=1e-3, seeds=(0,),
        nearimp=tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(3, 3), n_items=12),
    )
    return ProofConfig(**{**defaults, **kw})  # type: ignore[arg-type]


def test_arms_run_with_monitors_and_summary_has_every_row(base: Path, tmp_path: Path) -> None:
    cfg = tiny_config(arms=("grpo", "zpd", "zpd-mixed"))
    summary = run_proof(cfg, tmp_path, base_dir=base, log=lambda s: None)
    arms = summary["arms"]
    assert list(arms) == ["grpo", "zpd", "zpd-mixed"]
    for entry in arms.values():
        for key, _ in TABLE_ROWS:
            assert len(entry[key]["per_seed"]) == 1
    assert arms["zpd-mixed"]["share_band"]["mean"] is not None
    assert arms["grpo"]["share_band"]["mean"] is None  # its pool has no in-band items
    table = format_table(summary)
    assert len(table.splitlines()) == len(TABLE_ROWS) + 1
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # every arm spent exactly the budget, ran the nine monitor families and the ledger
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        assert mine[-1]["curriculum/rollouts"] == cfg.rollout_budget
        steps = [r for r in mine if r["step"] > 0]
        assert all("health/accidental/accidental_share" in r and "proof/max_adv" in r
                   for r in steps)
        assert "lab/eval/rev_short/sampled" in mine[0] and "lab/eval/nearimp/sampled" in mine[-1]
    assert (tmp_path / "proof.html").stat().st_size > 1000
    assert json.loads((tmp_path / "summary.json").read_text())["settings"]["arms"] == list(arms)
    # behaviour: tracker-informed arms never give a success more than 3 sqrt(3)/4; GRPO gives a
    # lone success exactly sqrt(G - 1)
    G = cfg.group_size
    tracker = [r["proof/max_adv"] for r in rows if r["arm"] != "grpo" and r["step"] > 0]
    assert max(tracker) > 0.0  # some groups were informative (not a vacuous bound)
    assert max(tracker) <= TRACKER_MAX + 1e-9
    lone = [r for r in rows if r["arm"] == "grpo" and r.get("proof/lucky_successes", 0) > 0]
    assert all(r["proof/max_adv"] == pytest.approx(math.sqrt(G - 1), rel=1e-4) for r in lone)


def test_ledger_counts_accidental_advantage() -> None:
    # one lone success on an item the posterior calls near-impossible, one 2/4 group on a
    # medium item: only the first success is accidental
    rewards = np.array([[1, 0, 0, 0], [1, 1, 0, 0]], dtype=float)
    adv = np.array([[3**0.5, -(3**-0.5), -(3**-0.5), -(3**-0.5)], [1, 1, -1, -1]])
    batch = RolloutBatch.from_groups(np.array([0, 1]), rewards, [["x"] * 4] * 2,
                                     [["1"] * 4] * 2, np.ones((2, 4), int), advantages=adv)
    ctx = MonitorContext(step=1, pass_rate=np.array([0.02, 0.5]))
    m = AdvantageLedger()(batch, ctx)
    assert m["proof/accidental_adv_sum"] == pytest.approx(3**0.5)
    assert m["proof/pos_adv_sum"] == pytest.approx(3**0.5 + 2)
    assert m["proof/lucky_successes"] == 1.0
    assert m["proof/max_adv"] == pytest.approx(3**0.5)


def _eval_rows(accs: list[float]) -> list[dict[str, float]]:
    return [{"step": 4 * k, **{f"lab/eval/{s}/sampled": a for s in PRIOR_SETS}}
            for k, a in enumerate(accs)]


def test_retention_test_alerts_on_a_real_drop_only() -> None:
    sizes = dict.fromkeys(PRIOR_SETS, 128)
    # accuracies are counts out of 128 (what an evaluation of 128 items can report)
    _, quiet = retention_test(_eval_rows([115 / 128, 112 / 128, 116 / 128, 110 / 128]), sizes)
    assert quiet == []
    metrics, loud = retention_test(_eval_rows([115 / 128, 112 / 128, 77 / 128]), sizes)
    assert {a["step"] for a in loud} == {8}
    assert {a["metric"] for a in loud} == {f"{s}/window_accuracy" for s in PRIOR_SETS}
    assert metrics[8]["health/retention/prior/drop"] == pytest.approx(38 / 128)


def test_config_is_validated_at_construction() -> None:
    with pytest.raises(ProofConfigError, match="unknown proof arm"):
        ProofConfig(arms=("grpo", "bogus"))
    with pytest.raises(ProofConfigError, match="distinct"):
        ProofConfig(arms=("grpo", "grpo"))
    with pytest.raises(ProofConfigError, match="rollout_budget"):
        ProofConfig(rollout_budget=0)
    assert ProofConfig(arms=("zpd-mixed",)).arms == (ProofArm.ZPD_MIXED,)
    assert ProofArm.GRPO_MIXED.mixed and ProofArm.GRPO_MIXED.advantage == "grpo"


def test_add_to_report_inserts_once_and_replaces(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("<html><body><h1>demo</h1></body></html>")
    summary = {"arms": {"grpo": {k: {"mean": 1.0, "per_seed": [1.0]} for k, _ in TABLE_ROWS}}}
    add_to_report(page, summary)
    add_to_report(page, summary)  # a rerun replaces the section, it does not stack
    text = page.read_text()
    assert text.count("Lab proof") == 1 and text.index("<h1>demo") < text.index("Lab proof")
    assert text.endswith("</body></html>")
    with pytest.raises(ProofConfigError, match="cannot read"):
        add_to_report(tmp_path / "missing.html", summary)
