"""A corpus of bad command-line inputs: each must fail with a non-zero exit, one clear error
line (no traceback), and no output that claims success (issue 12's floor: >= 50 cases, 100 %).

Every case runs ``zpd.cli.main.main`` in process on files made here (a tiny Hugging Face model
built from a config, datasets and run logs written by the test).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from zpd.cli.main import main

sys.path.insert(0, str(Path(__file__).parent / "data"))
from datahelpers import addition_rows, make_model, write_jsonl  # noqa: E402

Case = Callable[[Path, Path], list[str]]  # (tmp dir, tiny model dir) -> argv


def _rows(tmp: Path, n: int = 6) -> Path:
    return write_jsonl(tmp / "d.jsonl", addition_rows(n))


def _results(tmp: Path, rows: list[dict]) -> Path:
    return write_jsonl(tmp / "results.jsonl", rows)


def _metrics(tmp: Path, data: bytes) -> Path:
    run = tmp / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_bytes(data)
    return run


def _file(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def _corrupt_model(tmp: Path, model: Path) -> Path:
    import shutil

    bad = tmp / "bad_model"
    shutil.copytree(model, bad)
    (bad / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    return bad


GOOD_RESULT = {"id": "q0", "n": 4, "k": 4, "correct": 2, "pass_rate": 0.5, "category": "a"}

CASES: dict[str, Case] = {
    # --- sim: flags out of range, unknown names, absurd sizes
    "sim negative items": lambda t, m: ["sim", "--items", "-5"],
    "sim zero steps": lambda t, m: ["sim", "--steps", "0"],
    "sim nan batch": lambda t, m: ["sim", "--batch", "nan"],
    "sim huge items": lambda t, m: ["sim", "--items", str(10**13), "--steps", "1"],
    "sim unknown preset": lambda t, m: ["sim", "--preset", "bogus"],
    "sim unknown policy": lambda t, m: ["sim", "--policies", "bogus"],
    "sim bad set field": lambda t, m: ["sim", "--set", "nonsense=1"],
    "sim bad set value": lambda t, m: ["sim", "--set", "num_items=abc"],
    "sim zero seeds": lambda t, m: ["sim", "--seeds", "0"],
    "sim group size 1": lambda t, m: ["sim", "--group-size", "1"],
    # --- watch: missing, empty, foreign or garbage logs
    "watch missing dir": lambda t, m: ["watch", str(t / "nope")],
    "watch dir without log": lambda t, m: ["watch", str(t)],
    "watch binary garbage": lambda t, m: ["watch", str(_metrics(t, os.urandom(512) + b"\xff\xfe"))],
    "watch only bad lines": lambda t, m: ["watch", str(_metrics(t, b"{\"loss\": 1}\n{\"step\": \"x\"}\n"))],
    "watch not json": lambda t, m: ["watch", str(_metrics(t, b"step,loss\n1,2\n"))],
    "watch json not records": lambda t, m: ["watch", str(_metrics(t, b"[1, 2, 3]\n"))],
    "watch bad fail-on": lambda t, m: ["watch", str(t), "--fail-on", "bogus"],
    # --- profile: results files with holes, bad values, bad flags, bad outputs
    "profile missing results": lambda t, m: ["profile", str(t / "nope.jsonl")],
    "profile empty results": lambda t, m: ["profile", str(_file(t, "r.jsonl", b""))],
    "profile line missing field": lambda t, m: ["profile", str(_results(t, [
        GOOD_RESULT, {"id": "q1", "category": "a"}]))],
    "profile non-numeric field": lambda t, m: ["profile", str(_results(t, [
        GOOD_RESULT, {**GOOD_RESULT, "id": "q1", "correct": "two"}]))],
    "profile undecodable": lambda t, m: ["profile", str(_file(t, "r.jsonl", b"\xff\xfe\x00{"))],
    "profile malformed json": lambda t, m: ["profile", str(_file(t, "r.jsonl", b'{"id": 1,\n'))],
    "profile confidence 2": lambda t, m: ["profile", str(_results(t, [GOOD_RESULT])),
                                          "--confidence", "2"],
    "profile negative n-boot": lambda t, m: ["profile", str(_results(t, [GOOD_RESULT])),
                                             "--n-boot", "-1"],
    "profile huge n-boot": lambda t, m: ["profile", str(_results(t, [GOOD_RESULT])),
                                         "--n-boot", str(10**13)],
    "profile out under a file": lambda t, m: ["profile", str(_results(t, [GOOD_RESULT])),
                                              "--out", str(_file(t, "f", b"x") / "p.json")],
    "profile plot under a file": lambda t, m: ["profile", str(_results(t, [GOOD_RESULT])),
                                               "--plot", str(_file(t, "f", b"x") / "p.png")],
    # --- score difficulty: models, datasets, flags
    "score missing model": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model",
                                         str(t / "nope"), "--out", str(t / "o.jsonl")],
    "score corrupt safetensors": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model",
                                               str(_corrupt_model(t, m)), "--out",
                                               str(t / "o.jsonl")],
    "score missing data": lambda t, m: ["score", "difficulty", str(t / "none.jsonl"), "--model",
                                        str(m), "--out", str(t / "o.jsonl")],
    "score empty dataset": lambda t, m: ["score", "difficulty", str(_file(t, "e.jsonl", b"")),
                                         "--model", str(m), "--out", str(t / "o.jsonl")],
    "score undecodable jsonl": lambda t, m: ["score", "difficulty",
                                             str(_file(t, "u.jsonl", b"\xff\xfe\xfa\n")),
                                             "--model", str(m), "--out", str(t / "o.jsonl")],
    "score malformed jsonl": lambda t, m: ["score", "difficulty",
                                           str(_file(t, "u.jsonl", b'{"prompt": "1+1=",\n')),
                                           "--model", str(m), "--out", str(t / "o.jsonl")],
    "score fake parquet": lambda t, m: ["score", "difficulty",
                                        str(_file(t, "fake.parquet", b"not parquet")),
                                        "--model", str(m), "--out", str(t / "o.jsonl")],
    "score missing prompt field": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model",
                                                str(m), "--out", str(t / "o.jsonl"),
                                                "--prompt-field", "question"],
    "score k zero": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model", str(m),
                                  "--out", str(t / "o.jsonl"), "--k", "0"],
    "score huge k": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model", str(m),
                                  "--out", str(t / "o.jsonl"), "--k", str(10**12)],
    "score negative temperature": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model",
                                                str(m), "--out", str(t / "o.jsonl"),
                                                "--temperature", "-1"],
    "score tokens above context": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model",
                                                str(m), "--out", str(t / "o.jsonl"),
                                                "--max-new-tokens", "100000"],
    "score out under a file": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model",
                                            str(m), "--out", str(_file(t, "f", b"x") / "o.jsonl")],
    "score parquet out": lambda t, m: ["score", "difficulty", str(_rows(t)), "--model", str(m),
                                       "--out", str(t / "o.parquet")],
    "score distance max-length above context": lambda t, m: [
        "score", "distance", str(_rows(t)), "--model", str(m), "--out", str(t / "o.jsonl"),
        "--max-length", "100000"],
    "score unknown bos": lambda t, m: ["score", "distance", str(_rows(t)), "--model", str(m),
                                       "--out", str(t / "o.jsonl"), "--bos", "sometimes"],
    # --- select / filter
    "select fraction 2": lambda t, m: ["select", str(_rows(t)), "--method", "el2n", "--model",
                                       str(m), "--fraction", "2", "--out", str(t / "s.jsonl")],
    "select fraction nan": lambda t, m: ["select", str(_rows(t)), "--method", "el2n", "--model",
                                         str(m), "--fraction", "nan", "--out", str(t / "s.jsonl")],
    "select empty dataset": lambda t, m: ["select", str(_file(t, "e.jsonl", b"")), "--method",
                                          "el2n", "--model", str(m), "--fraction", "0.5",
                                          "--out", str(t / "s.jsonl")],
    "filter missing data": lambda t, m: ["filter", "refinements", str(t / "none.jsonl"),
                                         "--model", str(m), "--out", str(t / "k.jsonl")],
    # --- lab and demo
    "lab pretrain negative steps": lambda t, m: ["lab", "pretrain", "--steps", "-1", "--out",
                                                 str(t / "b")],
    "lab rl missing base": lambda t, m: ["lab", "rl", "--base", str(t / "nope"), "--out",
                                         str(t / "rl")],
    "lab rl foreign base": lambda t, m: ["lab", "rl", "--base", str(m), "--out", str(t / "rl"),
                                         "--budget", "64"],
    "lab eval missing model": lambda t, m: ["lab", "eval", "--model", str(t / "nope")],
    "lab proof zero seeds": lambda t, m: ["lab", "proof", "--out", str(t / "p"), "--seeds", "0"],
    "lab proof unknown arm": lambda t, m: ["lab", "proof", "--out", str(t / "p"), "--arms",
                                           "bogus"],
    "demo missing config": lambda t, m: ["demo", "--config", str(t / "nope.toml"), "--out",
                                         str(t / "d")],
    "demo malformed config": lambda t, m: ["demo", "--config",
                                           str(_file(t, "c.toml", b"seeds = [0,\n")), "--out",
                                           str(t / "d")],
    "demo unknown key": lambda t, m: ["demo", "--config",
                                      str(_file(t, "c.toml", b"bogus = 1\n")), "--out",
                                      str(t / "d")],
    # --- proxy
    "proxy missing expert": lambda t, m: ["proxy", "--base", str(m), "--expert",
                                          str(t / "nope"), "--anti-expert", str(m),
                                          "--prompt", "1+1="],
}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("m") / "tiny", seed=0)


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_with_one_clear_line(name: str, model: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = CASES[name](tmp_path, model)
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own usage errors exit 2 with a usage line
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert rc not in (0, None), f"{name}: exit 0\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and "error" in lines[-1].lower(), err
    assert not any(w in out.lower() for w in ("wrote", "done", "complete")), out
    claimed = [p for p in tmp_path.rglob("*") if p.is_file()
               and p.suffix in (".jsonl", ".json", ".parquet", ".png", ".html")
               and p.name.startswith(("o.", "s.", "k.", "p.", "report", "summary"))]
    assert claimed == [], f"{name} left outputs that look finished: {claimed}"


def test_a_missing_extra_is_named_before_any_work(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # `pip install zpd` without [lab]: the lab's modules cannot be found
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "matplotlib") else real(name, *a))
    for argv, extra in ((["demo", "--out", str(tmp_path / "d")], "lab"),
                        (["score", "distance", "x.jsonl", "--model", "m", "--out", "o.jsonl"],
                         "data"),
                        (["profile", "r.jsonl", "--plot", str(tmp_path / "p.png")], "lab")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"pip install 'zpd[{extra}]'" in err[0]
        assert "torch" in err[0] or "matplotlib" in err[0]
    assert not (tmp_path / "d").exists()  # nothing was started
