"""Resume you can trust: a results log is complete only when every input row has exactly one
record; a kill at any byte, a gap, a duplicate or a changed input is handled on resume, and the
resumed output equals a clean run's (property test over the kill position)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from datahelpers import addition_rows, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zpd.data.errors import DataError, ResumeError
from zpd.data.io import FieldSpec, meta_path
from zpd.data.pipeline import RunConfig, run_file

SPEC = FieldSpec(required=(("prompt", "prompt"), ("answer", "answer")))
RUN = RunConfig(batch_rows=4, progress=False)


class LengthTask:
    """A real (model-free) scoring task: the lengths of prompt and answer, and their product."""

    def __call__(self) -> Any:
        return lambda items: [{"n_prompt": len(it.text["prompt"]),
                               "score": len(it.text["prompt"]) * len(it.text["answer"]) / 7}
                              for it in items]

    def settings(self) -> dict[str, Any]:
        return {"task": "length"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _mark_interrupted(out: Path) -> None:
    """Make the sidecar say what a killed run leaves: not complete."""
    meta = json.loads(meta_path(out).read_text())
    meta_path(out).write_text(json.dumps({**meta, "complete": False}))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    d = tmp_path_factory.mktemp("clean")
    data = write_jsonl(d / "d.jsonl", addition_rows(23))
    run_file(data, SPEC, d / "clean.jsonl", LengthTask(), RUN)
    return data, _lines(d / "clean.jsonl")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.0, 1.0))
def test_kill_at_any_byte_then_resume_equals_a_clean_run(
        cut: float, clean: tuple[Path, list[dict[str, Any]]], tmp_path_factory) -> None:
    data, want = clean
    out = tmp_path_factory.mktemp("kill") / "r.jsonl"
    run_file(data, SPEC, out, LengthTask(), RUN)
    blob = out.read_bytes()
    out.write_bytes(blob[: int(cut * len(blob))])  # killed mid-write at this byte
    _mark_interrupted(out)
    summary = run_file(data, SPEC, out, LengthTask(), RUN)
    assert _lines(out) == want
    assert summary.rows == summary.scored == 23
    assert json.loads(meta_path(out).read_text())["complete"] is True


def test_a_gap_or_a_duplicate_is_rescored_not_marked_complete(
        clean: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    data, want = clean
    for damage in ("gap", "duplicate"):
        out = tmp_path / f"{damage}.jsonl"
        run_file(data, SPEC, out, LengthTask(), RUN)
        lines = out.read_text().splitlines(keepends=True)
        lines = (lines[:5] + lines[6:] if damage == "gap"
                 else lines[:5] + [lines[4]] + lines[5:])
        out.write_text("".join(lines))
        run_file(data, SPEC, out, LengthTask(), RUN)
        assert _lines(out) == want, damage


def test_resume_against_a_changed_input_is_refused(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(10))
    out = tmp_path / "r.jsonl"
    run_file(data, SPEC, out, LengthTask(), RUN)
    rows = addition_rows(10)
    rows[3]["answer"] = "999"  # same size in rows, other content
    write_jsonl(data, rows)
    with pytest.raises(ResumeError, match="data_sha256"):
        run_file(data, SPEC, out, LengthTask(), RUN)


def test_empty_input_and_foreign_sidecar_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="no rows"):
        run_file(empty, SPEC, tmp_path / "o.jsonl", LengthTask(), RUN)
    assert not (tmp_path / "o.jsonl").exists()
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(4))
    out = tmp_path / "r.jsonl"
    out.write_text("")
    meta_path(out).write_text("{not json")
    with pytest.raises(ResumeError, match="damaged"):
        run_file(data, SPEC, out, LengthTask(), RUN)


def test_a_bom_at_the_start_of_the_input_is_tolerated(tmp_path: Path) -> None:
    rows = addition_rows(3)
    plain = write_jsonl(tmp_path / "plain.jsonl", rows)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    run_file(plain, SPEC, tmp_path / "a.jsonl", LengthTask(), RUN)
    run_file(bom, SPEC, tmp_path / "b.jsonl", LengthTask(), RUN)
    assert _lines(tmp_path / "b.jsonl") == _lines(tmp_path / "a.jsonl")


def _with_bad_rows(tmp: Path) -> Path:
    rows: list[dict[str, Any]] = addition_rows(23)
    for r in (0, 6, 7, 15, 22):  # first, adjacent, last: malformed rows in awkward places
        del rows[r]["answer"]
    return write_jsonl(tmp / "bad.jsonl", rows)


SKIP = RunConfig(batch_rows=4, progress=False, on_error="skip")


def test_skipped_rows_live_in_their_own_file_and_a_plain_reader_sees_results_only(
        tmp_path: Path) -> None:
    import pandas as pd

    from zpd.data.io import read_results, skipped_path

    data = _with_bad_rows(tmp_path)
    out = tmp_path / "r.jsonl"
    summary = run_file(data, SPEC, out, LengthTask(), SKIP)
    assert (summary.scored, summary.skipped) == (18, {"missing_field": 5})
    frame = pd.read_json(out, lines=True)
    assert len(frame) == 18 and "skipped" not in frame.columns
    assert frame["score"].notna().all() and 6 not in set(frame["row"])
    marks = _lines(skipped_path(out))
    assert [m["row"] for m in marks] == [0, 6, 7, 15, 22]
    assert {m["skipped"] for m in marks} == {"missing_field"}
    assert [r["row"] for r in read_results(out, include_skipped=True)] == list(range(23))
    assert [r["row"] for r in read_results(out)] == [r for r in range(23)
                                                     if r not in (0, 6, 7, 15, 22)]


def test_a_run_that_skips_nothing_leaves_no_skipped_file_and_resumes(tmp_path: Path) -> None:
    from zpd.data.io import read_results, skipped_path

    data = write_jsonl(tmp_path / "ok.jsonl", addition_rows(9))
    out = tmp_path / "r.jsonl"
    run_file(data, SPEC, out, LengthTask(), SKIP)
    assert not skipped_path(out).exists()
    assert [r["row"] for r in read_results(out, include_skipped=True)] == list(range(9))
    first = _lines(out)
    blob = out.read_bytes()
    out.write_bytes(blob[: len(blob) // 2])  # killed mid-run: the sidecar says not complete
    _mark_interrupted(out)
    summary = run_file(data, SPEC, out, LengthTask(), SKIP)
    assert _lines(out) == first and summary.scored == 9
    assert not skipped_path(out).exists()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_results=st.floats(0.0, 1.0), cut_skipped=st.floats(0.0, 1.0))
def test_a_kill_in_either_file_then_resume_equals_a_clean_run(
        cut_results: float, cut_skipped: float, tmp_path_factory) -> None:
    from zpd.data.io import skipped_path

    tmp = tmp_path_factory.mktemp("skipkill")
    data = _with_bad_rows(tmp)
    run_file(data, SPEC, tmp / "clean.jsonl", LengthTask(), SKIP)
    out = tmp / "r.jsonl"
    run_file(data, SPEC, out, LengthTask(), SKIP)
    for f, cut in ((out, cut_results), (skipped_path(out), cut_skipped)):
        blob = f.read_bytes()
        f.write_bytes(blob[: int(cut * len(blob))])
    _mark_interrupted(out)
    summary = run_file(data, SPEC, out, LengthTask(), SKIP)
    assert _lines(out) == _lines(tmp / "clean.jsonl")
    assert _lines(skipped_path(out)) == _lines(skipped_path(tmp / "clean.jsonl"))
    assert (summary.scored, summary.skipped) == (18, {"missing_field": 5})
