"""`zpd demo` and `zpd lab` end to end at tiny size: report, metrics files, arm reuse, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from zpd.cli.main import main
from zpd.lab.report import read_jsonl

TINY_DEMO = ["--preset", "tiny", "--pretrain-steps", "10", "--budget", "64", "--seeds", "2",
             "--policies", "uniform,zpd", "--eval-items", "4", "--no-progress"]


def test_demo_writes_a_self_contained_report_and_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    argv = ["demo", *TINY_DEMO, "--out", str(out), "--base-dir", str(tmp_path / "base")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"report: {(out / 'report.html').resolve()}" in printed
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 6 and "Rollouts to target" in page
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # nothing to fetch
    rows = read_jsonl(out / "metrics.jsonl")
    table = pq.read_table(out / "metrics.parquet")
    assert table.num_rows == len(rows) and "lab/eval/heldout/sampled" in table.column_names
    arms = {(r["protocol"], r["policy"], r["seed"]) for r in rows}
    # --policies keeps each protocol's baseline: uniform (equal budget) and dapo (filled)
    assert arms == {(p, a, s) for s in (0, 1) for p, a in (
        ("equal-budget", "uniform"), ("equal-budget", "zpd"),
        ("filled-batches", "dapo"), ("filled-batches", "zpd+filter"))}
    for arm in arms:
        mine = [r for r in rows if (r["protocol"], r["policy"], r["seed"]) == arm]
        assert mine[-1]["curriculum/rollouts"] == 64  # same budget for every arm
    summary = json.loads((out / "summary.json").read_text())
    protos = summary["protocols"]
    assert set(protos["equal-budget"]["policies"]) == {"uniform", "zpd"}
    assert set(protos["filled-batches"]["policies"]) == {"dapo", "zpd+filter"}
    for entry in (e for p in protos.values() for e in p["policies"].values()):
        assert {"rollouts_to_target", "ratio_to_baseline", "final", "prior_drop",
                "wall_seconds", "seeds"} <= set(entry) and entry["seeds"] == [0, 1]
    assert summary["base_profile"]["rungs"] == list(range(2, 11))
    # every arm ran the health monitors, so `zpd watch` reads a demo arm like any run
    arm_rows = read_jsonl(out / "runs" / "zpd-s0" / "metrics.jsonl")
    families = {k.split("/")[1] for r in arm_rows for k in r["metrics"] if k.startswith("health/")}
    assert {"groups", "kl", "formats", "accidental"} <= families
    assert main(["watch", str(out / "runs" / "zpd-s0")]) == 0
    assert "[not logged] groups" not in capsys.readouterr().out
    eq = protos["equal-budget"]
    finals = []  # uniform's final accuracy per seed: mean of its last `window` evaluations
    for seed in (0, 1):
        acc = [r["lab/eval/heldout/sampled"] for r in rows
               if (r["policy"], r["seed"]) == ("uniform", seed) and "lab/eval/heldout/sampled" in r]
        finals.append(sum(acc[-eq["window"]:]) / len(acc[-eq["window"]:]))
    assert eq["target"] == pytest.approx(sum(finals) / 2)
    # a second run reuses the base and every finished arm: no pretraining, no RL
    stamp = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.jsonl")}
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.jsonl")} == stamp
    assert read_jsonl(out / "metrics.jsonl") == rows


def test_lab_pretrain_rl_eval_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base"
    assert main(["lab", "pretrain", "--preset", "tiny", "--steps", "5", "--batch-size", "16",
                 "--eval-items", "1", "--out", str(base), "--no-progress"]) == 0
    assert (base / "final" / "model.safetensors").is_file()
    assert main(["lab", "rl", "--base", str(base / "final"), "--policy", "mopps", "--budget", "64",
                 "--prompts", "4", "--eval-items", "4", "--out", str(tmp_path / "rl")]) == 0
    assert (tmp_path / "rl" / "model" / "config.json").is_file()
    capsys.readouterr()
    assert main(["lab", "eval", "--model", str(tmp_path / "rl" / "model"), "--eval-items", "4",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"lab/eval/heldout/sampled", "lab/eval/prior/greedy"} <= set(res)
    assert all(0.0 <= v <= 1.0 for v in res.values())


def test_bad_flags_fail_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--policies", "uniform,nope", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["lab", "pretrain", "--preset", "huge", "--out", str(tmp_path / "b")]) == 2
    assert "preset" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def _rows(policy: str, seed: int, accs: list[float], step_rollouts: int) -> list[dict]:
    return [{"policy": policy, "seed": seed, "step": k, "curriculum/rollouts": k * step_rollouts,
             "lab/eval/heldout/sampled": a, "lab/eval/prior/sampled": 0.8 - 0.01 * k}
            for k, a in enumerate(accs)]


def test_summary_reads_rollouts_to_target_from_smoothed_seed_means() -> None:
    import math

    from zpd.lab.report import Curve, rollouts_to_target, smoothed, summarize

    c = smoothed(Curve("p", 0, np.arange(4.0), np.array([0.0, 1.0, 1.0, 0.0])), 2)
    assert c.values.tolist() == [0.0, 0.5, 1.0, 0.5]
    # interpolated between the evaluation before the crossing and the first one past it
    assert rollouts_to_target(np.array([0, 100, 200]), np.array([0.1, 0.5, 0.4]), 0.45) == \
        pytest.approx(87.5)
    assert rollouts_to_target(np.array([0, 100]), np.array([0.5, 0.6]), 0.3) == 0  # from the start
    assert math.isnan(rollouts_to_target(np.array([0, 100]), np.array([0.1, 0.2]), 0.3))
    rows = (_rows("uniform", 0, [0.2, 0.3, 0.4, 0.5], 100) + _rows("uniform", 1, [0.2, 0.3, 0.4, 0.5], 100)
            + _rows("zpd", 0, [0.2, 0.5, 0.5, 0.6], 100) + _rows("zpd", 1, [0.2, 0.4, 0.6, 0.6], 100))
    s = summarize(rows, window=1)
    assert s["target"] == pytest.approx(0.5)
    assert s["policies"]["uniform"]["rollouts_to_target"] == 300
    assert s["policies"]["zpd"]["rollouts_to_target_per_seed"] == pytest.approx([100, 150])
    # seed mean 0.45 at 100, 0.55 at 200: 0.5 is crossed half way, at 150
    assert s["policies"]["zpd"]["rollouts_to_target"] == pytest.approx(150)
    assert s["policies"]["zpd"]["ratio_to_baseline"] == pytest.approx(0.5)
    assert s["policies"]["zpd"]["ratio_per_seed"] == pytest.approx([100 / 300, 150 / 300])
    assert s["policies"]["zpd"]["censored_seeds"] == 0
    assert s["policies"]["zpd"]["prior_drop"] == pytest.approx(0.03)
    smooth = summarize(rows, window=2)
    assert smooth["target"] == pytest.approx(0.45)  # mean of uniform's last two evaluations
