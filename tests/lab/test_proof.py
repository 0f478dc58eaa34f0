"""The shortcut lab at tiny size: every arm kind runs with the monitor suite and the ledgers, the
summary's structure and floors, the tiers (palindromes only where the echo should pay), the
arms' advantage wiring (tracker-informed never amplifies a lone success the way GRPO does),
the retention test on evaluation counts, and config validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from zpd.lab import tasks
from zpd.lab.proof import (
    DEFAULT_ARMS,
    PRIOR_SETS,
    TABLE_ROWS,
    AdvantageLedger,
    ProofArm,
    ProofConfig,
    ProofConfigError,
    ShortcutLedger,
    add_to_report,
    check_floors,
    crossing_step,
    format_table,
    make_data,
    retention_test,
    run_proof,
)
from zpd.monitors import MonitorContext, RolloutBatch

# Tracker-informed advantage of a success: (1 - m) * sqrt(m (1 - m)) / 0.25 <= 3 sqrt(3) / 4
# (at m = 1/4), below GRPO's sqrt(G - 1) for a lone success whenever G >= 3.
TRACKER_MAX = 3 * math.sqrt(3) / 4


def tiny_config(**kw: object) -> ProofConfig:
    # the tiny base reverses 1-3 digits: "hard" here is 4-5 digits, the band 3, easy 2
    defaults: dict[str, object] = dict(
        easy_rungs=(2, 2), band_rungs=(3, 3), hard_rungs=(4, 5), items_per_rung=8,
        eval_per_rung=4, probe_per_rung=2, n_prior=8, n_copy=8, group_size=4,
        prompts_per_step=6, rollout_budget=72, eval_every=2, lr=1e-3, seeds=(0,),
    )
    return ProofConfig(**{**defaults, **kw})  # type: ignore[arg-type]


def test_tiers_put_palindromes_only_in_the_hard_tier_at_share_q() -> None:
    cfg = tiny_config(items_per_rung=8)
    data = make_data(cfg)
    prompts = [it.prompt for it in (*data.hard, *data.hard_pal, *data.band, *data.easy)]
    prompts += [it.prompt for s in data.eval_sets.values() for it in s]
    assert len(prompts) == len(set(prompts))  # disjoint everywhere

    def pal(it: tasks.Item) -> bool:
        return it.operands[0] == it.operands[0][::-1]

    for q, k in ((0.0, 0), (0.25, 2), (0.5, 4)):
        items, tiers = data.hard_tier(q)
        assert len(items) == 16 and sum(map(pal, items)) == 2 * k
        assert [pal(it) for it in items] == [t == "hard_pal" for t in tiers]
    for name in ("probe", "easy", "inband", "hard"):
        assert not any(pal(it) for it in data.eval_sets[name])
    assert all(pal(it) for it in data.eval_sets["hard_pal"])
    items, tiers = data.pool(ProofArm.ZPD_MIXED)
    assert [it.item_id for it in items] == list(range(len(items)))
    assert set(tiers) == {"hard", "hard_pal", "band", "easy"} and tiers.count("hard_pal") == 8
    assert set(data.pool(ProofArm.GRPO_BAND)[1]) == {"band"}
    # a shift is never the identity, so an echo is wrong on every prior item
    assert all(tasks.verify(it, f"{it.fmt[0]}{it.operands[0]}$") == 0.0
               for it in data.eval_sets["prior"])


def test_arms_run_with_monitors_and_summary_has_every_row(base: Path, tmp_path: Path) -> None:
    arms = ("grpo-hard-q50", "drgrpo-hard-q50", "grpo-band", "zpd-mixed")
    cfg = tiny_config(arms=arms)
    summary = run_proof(cfg, tmp_path, base_dir=base, log=lambda s: None)
    assert list(summary["arms"]) == list(arms)
    assert set(summary["base"]) == {"hard", "hard_pal", "band", "easy"}
    for entry in summary["arms"].values():
        assert entry["seeds"] == [0]
        for key in ("shortcut_rate_base", "shortcut_rate_final", "prior_drop", "inband_final"):
            assert isinstance(entry[key], float)
        assert set(entry["alerts"]) >= {"repetition", "retention", "accidental", "shortcut"}
        for key, _ in TABLE_ROWS:
            assert len(entry["metrics"][key]["per_seed"]) == 1
    assert summary["arms"]["zpd-mixed"]["metrics"]["share_band"]["mean"] is not None
    assert summary["arms"]["grpo-hard-q50"]["metrics"]["share_band"]["mean"] is None
    table = format_table(summary)
    assert len(table.splitlines()) == len(TABLE_ROWS) + 1
    names = [name for name, _, _ in check_floors(summary)]
    assert len(names) == 6 and all(ok is not None for _, ok, _ in check_floors(summary))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        assert mine[-1]["curriculum/rollouts"] == cfg.rollout_budget
        steps = [r for r in mine if r["step"] > 0]
        assert all("health/repetition/no_answer_rate" in r and "proof/shortcut_adv_share" in r
                   for r in steps)
        assert "lab/eval/probe/flag/echo" in mine[0] and "lab/eval/prior/flag/echo" in mine[-1]
        assert 0.0 <= mine[-1]["lab/eval/probe/flag/echo"] <= 1.0
    assert (tmp_path / "proof.html").stat().st_size > 1000
    assert json.loads((tmp_path / "summary.json").read_text())["settings"]["arms"] == list(arms)
    # behaviour: tracker-informed arms never give a success more than 3 sqrt(3)/4; GRPO gives a
    # lone success exactly sqrt(G - 1); Dr. GRPO gives it 1 - 1/G
    G = cfg.group_size
    tracker = [r["proof/max_adv"] for r in rows if r["arm"] == "zpd-mixed" and r["step"] > 0]
    assert max(tracker) > 0.0  # some groups were informative (not a vacuous bound)
    assert max(tracker) <= TRACKER_MAX + 1e-9
    for arm, lone_adv in (("grpo-hard-q50", math.sqrt(G - 1)), ("drgrpo-hard-q50", 1 - 1 / G)):
        lone = [r for r in rows if r["arm"] == arm and r.get("proof/lucky_successes", 0) > 0
                and r["proof/max_adv"] > 0]
        assert all(r["proof/max_adv"] >= lone_adv - 1e-4 for r in lone)


def test_shortcut_ledger_counts_advantage_on_echoes() -> None:
    pal, other = tasks.reversal_item("12321", item_id=0), tasks.reversal_item("12345", item_id=1)
    # palindrome: one echo success (also the right answer); other: an echo, wrong
    rewards = np.array([[1, 0, 0, 0], [1, 1, 0, 0]], dtype=float)
    completions = [["d12321$", "d1$", "d2$", "d3$"], ["d54321$", "d54321$", "d12345$", "d9$"]]
    adv = np.array([[3.0, -1.0, -1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
    batch = RolloutBatch.from_groups(np.array([0, 1]), rewards, completions,
                                     [["x"] * 4] * 2, np.ones((2, 4), int), advantages=adv)
    m = ShortcutLedger([pal, other])(batch, MonitorContext(step=1))
    assert m["proof/shortcut_adv_share"] == pytest.approx(3.0 / 5.0)
    assert m["proof/echo_rate"] == pytest.approx(2 / 8)
    assert m["proof/wrong_echo_rate"] == pytest.approx(1 / 8)


def test_crossing_step_and_floors_read_the_summary() -> None:
    rows = [{"step": s, "lab/eval/probe/flag/echo": v}
            for s, v in ((0, 0.05), (4, 0.08), (8, 0.11), (12, 0.3))]
    assert crossing_step(rows) == 8.0
    assert math.isnan(crossing_step(rows[:2]))
    assert crossing_step([{"step": 0, "lab/eval/probe/flag/echo": 0.0},
                          {"step": 4, "lab/eval/probe/flag/echo": 0.02}], floor=0.01) == 4.0

    def arm(base: float, final: float, drop: float, lags: list[float | None],
            short_seeds: int) -> dict[str, object]:
        return {"seeds": [0, 1, 2], "shortcut_rate_base": base, "shortcut_rate_final": final,
                "prior_drop": drop, "inband_final": 0.5,
                "alerts": {"shortcut": short_seeds},
                "metrics": {"detect_lag": {"mean": 0.0, "per_seed": lags}}}

    summary = {"arms": {
        "grpo-hard-q50": arm(0.05, 0.2, 0.12, [4.0, -2.0, None], 2),
        "grpo-band": arm(0.05, 0.02, 0.05, [None] * 3, 0),
        "zpd-mixed": arm(0.05, 0.055, 0.055, [None] * 3, 0),
    }}
    assert [ok for _, ok, _ in check_floors(summary)] == [True, True, True, True, True, True]
    summary["arms"]["zpd-mixed"]["shortcut_rate_final"] = 0.07  # 1.4x the base's
    summary["arms"]["grpo-hard-q50"]["metrics"]["detect_lag"]["per_seed"] = [12.0, -2.0, None]
    assert [ok for _, ok, _ in check_floors(summary)] == [True, True, False, True, False, True]
    del summary["arms"]["grpo-band"]
    assert [ok for _, ok, _ in check_floors(summary)][:4] == [None] * 4


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
        ProofConfig(arms=("grpo-band", "bogus"))
    with pytest.raises(ProofConfigError, match="distinct"):
        ProofConfig(arms=("grpo-band", "grpo-band"))
    with pytest.raises(ProofConfigError, match="rollout_budget"):
        ProofConfig(rollout_budget=0)
    with pytest.raises(ProofConfigError, match="hard_rungs"):
        ProofConfig(hard_rungs=(9, 12))
    with pytest.raises(ProofConfigError, match="items_per_rung"):
        ProofConfig(items_per_rung=0)
    assert ProofConfig(arms=("zpd-mixed",)).arms == (ProofArm.ZPD_MIXED,)
    assert ProofArm.GRPO_MIXED.pool == "mixed" and ProofArm.GRPO_MIXED.advantage == "grpo"
    assert [(a.policy, a.advantage, a.pool, a.q) for a in DEFAULT_ARMS] == [
        ("uniform", "grpo", "hard", 0.0), ("uniform", "grpo", "hard", 0.25),
        ("uniform", "grpo", "hard", 0.5), ("uniform", "dr_grpo", "hard", 0.5),
        ("uniform", "grpo", "band", 0.5), ("zpd", "tracker", "mixed", 0.5),
        ("zpd", "tracker", "hard", 0.5)]
    with pytest.raises(ProofConfigError, match="cannot draw"):
        make_data(ProofConfig(easy_rungs=(2, 2), items_per_rung=100))
    steep = ProofConfig.design("steep", seeds=(0,))
    assert (steep.hard_rungs, steep.band_rungs, steep.easy_rungs) == ((5, 8), (3, 4), (2, 2))
    assert steep.pretrain.fingerprint() != ProofConfig.design("ladder").pretrain.fingerprint()
    with pytest.raises(ProofConfigError, match="unknown proof design"):
        ProofConfig.design("bogus")


def test_add_to_report_inserts_once_and_replaces(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("<html><body><h1>demo</h1></body></html>")
    summary = {"arms": {"grpo-band": {
        "seeds": [0], "shortcut_rate_base": 0.05, "shortcut_rate_final": 0.05, "prior_drop": 0.0,
        "inband_final": 0.5, "alerts": {"shortcut": 0},
        "metrics": {k: {"mean": 1.0, "per_seed": [1.0]} for k, _ in TABLE_ROWS}}}}
    add_to_report(page, summary)
    add_to_report(page, summary)  # a rerun replaces the section, it does not stack
    text = page.read_text()
    assert text.count("Lab proof") == 1 and text.index("<h1>demo") < text.index("Lab proof")
    assert text.endswith("</body></html>")
    with pytest.raises(ProofConfigError, match="cannot read"):
        add_to_report(tmp_path / "missing.html", summary)

def test_cli_default_arms_are_the_default_arms() -> None:
    import argparse

    from zpd.cli import lab as cli_lab
    from zpd.lab.proof import DEFAULT_ARMS

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli_lab._add_proof(sub)
    args = parser.parse_args(["proof", "--out", "x"])
    assert tuple(args.arms.split(",")) == tuple(a.value for a in DEFAULT_ARMS)
