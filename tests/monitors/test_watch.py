"""`zpd watch RUN_DIR` on runs written by the suite's JSONL sink (and on flat lab rows)."""

from __future__ import annotations

import json

import pytest

from zpd.cli.main import main
from zpd.monitors import FAMILIES, read_run

FAULTS_FROM = 12


@pytest.fixture
def run_dir(tmp_path, synthetic_run):
    synthetic_run(tmp_path / "run", steps=24, faults_from=FAULTS_FROM)
    return tmp_path / "run"


def test_watch_prints_every_family_with_alerts_and_their_steps(run_dir, capsys) -> None:
    assert main(["watch", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "verdict: CRITICAL" in out
    for family in FAMILIES:
        assert f"] {family}\n" in out
    assert "[warning] repetition" in out and "[warning] formats" in out
    assert "[critical] retention" in out and "[ok] groups" in out
    assert f"x12 at steps {FAULTS_FROM}, {FAULTS_FROM + 1}," in out
    assert "'0' is the modal answer" in out
    assert "[lab]" in out and "step_seconds" in out


def test_watch_json_lists_alert_steps(run_dir, capsys) -> None:
    assert main(["watch", str(run_dir), "--json"]) == 0
    health = json.loads(capsys.readouterr().out)
    fams = {f["name"]: f for f in health["families"]}
    assert list(fams) == list(FAMILIES)
    assert health["records"] == 24 and health["verdict"] == "critical"
    (rep,) = fams["repetition"]["alerts"]
    assert rep["steps"] == list(range(FAULTS_FROM, 24)) and rep["severity"] == "warning"
    assert fams["retention"]["alerts"][0]["first_step"] == FAULTS_FROM
    assert fams["kl"]["metrics"]["k3"]["max"] > fams["kl"]["metrics"]["k3"]["min"]
    assert fams["coupling"]["alerts"] == [] and fams["coupling"]["verdict"] == "ok"


def test_fail_on_sets_the_exit_status(run_dir, tmp_path, synthetic_run, capsys) -> None:
    assert main(["watch", str(run_dir), "--fail-on", "critical"]) == 1
    synthetic_run(tmp_path / "clean", steps=10, faults_from=99)
    assert read_run(tmp_path / "clean").verdict == "ok"
    assert main(["watch", str(tmp_path / "clean"), "--fail-on", "note"]) == 0
    capsys.readouterr()


def test_watch_reads_flat_rows_and_skips_a_partial_last_line(tmp_path, capsys) -> None:
    rows = [{"step": s, "lab/acc": 0.1 * s, "health/kl/k3": 0.01 * s, "policy": "zpd"}
            for s in range(5)]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 5, "lab/acc": 0.'
    (tmp_path / "metrics.jsonl").write_text(text)
    health = read_run(tmp_path)
    assert health.records == 5 and health.skipped_lines == 1
    kl = next(f for f in health.families if f.name == "kl")
    assert kl.metrics["k3"].last == pytest.approx(0.04) and kl.verdict == "ok"
    assert health.other["lab"]["acc"].max == pytest.approx(0.4)
    assert main(["watch", str(tmp_path / "metrics.jsonl")]) == 0
    assert "1 unreadable lines skipped" in capsys.readouterr().out


def test_watch_on_a_missing_or_empty_run(tmp_path, capsys) -> None:
    assert main(["watch", str(tmp_path / "nope")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text("")
    assert main(["watch", str(tmp_path)]) == 0
    assert "no data" in capsys.readouterr().out
