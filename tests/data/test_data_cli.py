"""The data subcommands end to end through `zpd.cli.main.main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datahelpers import addition_rows, write_jsonl

from zpd.cli.main import main


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_score_profile_select_filter_proxy_commands(tiny_model: Path, tiny_model_b: Path,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(12))
    m = str(tiny_model)
    common = ["--device", "cpu", "--quiet"]
    assert main(["score", "distance", str(data), "--model", m, "--out",
                 str(tmp_path / "n.jsonl"), *common]) == 0
    assert _json_out(capsys)["scored"] == 12
    assert main(["score", "difficulty", str(data), "--model", m, "--out",
                 str(tmp_path / "k.jsonl"), "--k", "3", "--max-new-tokens", "3",
                 "--category-field", "category", "--verifier", "numeric", *common]) == 0
    assert _json_out(capsys)["scored"] == 12
    first = json.loads((tmp_path / "k.jsonl").read_text().splitlines()[0])
    assert first["n"] == 3 and first["category"] in ("small", "large")
    assert main(["profile", str(tmp_path / "k.jsonl"), "--plot", str(tmp_path / "p.png"),
                 "--out", str(tmp_path / "p.json")]) == 0
    assert {c["category"] for c in _json_out(capsys)["categories"]} <= {"small", "large"}
    assert (tmp_path / "p.png").exists()
    assert main(["select", str(data), "--method", "el2n", "--model", m, "--fraction", "0.5",
                 "--strategy", "easy", "--out", str(tmp_path / "s.jsonl"), *common]) == 0
    assert _json_out(capsys)["kept"] == 6
    pairs = write_jsonl(tmp_path / "pairs.jsonl",
                        [{"prompt": "1+1=", "answer": "2", "refined_answer": "2 since 1+1"}])
    assert main(["filter", "refinements", str(pairs), "--model", m, "--out",
                 str(tmp_path / "f.jsonl"), "--max-ifd", "5", "--max-rifd", "5", *common]) == 0
    assert sum(_json_out(capsys)["decisions"].values()) == 1
    assert main(["proxy", "--base", m, "--expert", str(tiny_model_b), "--anti-expert", m,
                 "--prompt", "1+2=", "--max-new-tokens", "3", "--device", "cpu"]) == 0
    assert len(_json_out(capsys)["generations"]) == 1
    gen = ["proxy", "--base", m, "--expert", str(tiny_model_b), "--anti-expert", m, "--data",
           str(data), "--out", str(tmp_path / "g.jsonl"), "--max-new-tokens", "3",
           "--batch-rows", "5", *common]
    assert main(gen) == 0
    assert _json_out(capsys)["scored"] == 12
    records = [json.loads(x) for x in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert [r["row"] for r in records] == list(range(12))
    assert all(set(r) >= {"prompt", "generation", "id"} for r in records)
    before = (tmp_path / "g.jsonl").read_bytes()
    assert main(gen) == 0  # a finished run resumes to nothing and rewrites nothing
    assert _json_out(capsys)["resumed_from"] == 12 and (tmp_path / "g.jsonl").read_bytes() == before


def test_bad_input_is_one_clear_line_and_exit_2(tiny_model: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rows = addition_rows(5)
    rows[3] = {"prompt": "3+3="}  # no answer field
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = tmp_path / "n.jsonl"
    code = main(["score", "distance", str(data), "--model", str(tiny_model), "--out", str(out),
                 "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "line 4 (row 3)" in err and "'answer'" in err and "Traceback" not in err
    assert main(["score", "distance", str(data), "--model", str(tmp_path), "--out", str(out)]) == 2
    assert "not a Hugging Face model directory" in capsys.readouterr().err
    assert main(["score", "distance", str(data), "--model", str(tiny_model), "--out", str(out),
                 "--device", "cpu", "--quiet", "--on-error", "skip"]) == 0
    assert _json_out(capsys)["skipped"] == {"missing_field": 1}
    assert main(["score"]) == 2
