"""Readers, row-numbered errors, skip-and-count, and the resumable result log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datahelpers import write_jsonl

from zpd.core.atomic import atomic_open
from zpd.data.errors import DataError, ResumeError, RowError
from zpd.data.io import (
    FieldSpec,
    Item,
    ResultLog,
    Skipped,
    iter_items,
    meta_path,
    read_results,
    scan,
)

SPEC = FieldSpec(required=(("prompt", "prompt"), ("answer", "answer")), id="id",
                 category="category")


def _rows(n: int) -> list[dict]:
    return [{"prompt": f"{i}+1=", "answer": i + 1, "id": f"q{i}", "category": i % 3}
            for i in range(n)]


def test_jsonl_parquet_and_hf_dir_give_the_same_items(tmp_path: Path) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(2500)  # more than one read batch
    write_jsonl(tmp_path / "d.jsonl", rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    got = {}
    for name in ("d.jsonl", "d.parquet", "hf"):
        items = list(iter_items(tmp_path / name, SPEC))
        got[name] = [(it.row, it.id, it.category, dict(it.text)) for it in items]
    assert got["d.jsonl"] == got["d.parquet"] == got["hf"]
    assert got["d.jsonl"][1234] == (1234, "q1234", 1234 % 3, {"prompt": "1234+1=",
                                                              "answer": "1235"})


def test_hf_dataset_dict_needs_a_split(tmp_path: Path) -> None:
    import datasets

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(_rows(3)),
                               "test": datasets.Dataset.from_list(_rows(2))})
    dd.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match="splits"):
        list(iter_items(tmp_path / "dd", SPEC))
    assert len(list(iter_items(tmp_path / "dd", SPEC, split="test"))) == 2


def test_malformed_row_names_file_line_and_row(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    lines = [json.dumps(r) for r in _rows(3)]
    p.write_text(lines[0] + "\n\n" + "{not json\n" + lines[2] + "\n")
    with pytest.raises(RowError) as exc:
        scan(p, SPEC)
    err = exc.value
    assert err.line == 3 and err.row == 1 and err.reason == "bad_json"
    assert str(p) in str(err) and "line 3" in str(err) and "row 1" in str(err)


def test_missing_field_is_named_and_skip_mode_counts(tmp_path: Path) -> None:
    rows = _rows(6)
    del rows[2]["answer"]
    rows[4]["prompt"] = ""
    p = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(RowError, match="'answer'"):
        scan(p, SPEC)
    summary = scan(p, SPEC, on_error="skip")
    assert (summary.rows, summary.valid) == (6, 4)
    assert summary.skipped == {"missing_field": 1, "bad_field": 1}
    kinds = [type(it) for it in iter_items(p, SPEC, on_error="skip")]
    assert kinds == [Item, Item, Skipped, Item, Skipped, Item]


def test_unknown_format_and_on_error_are_clear(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="suffix"):
        list(iter_items(tmp_path / "d.csv", SPEC))
    with pytest.raises(DataError, match="on_error"):
        list(iter_items(write_jsonl(tmp_path / "d.jsonl", _rows(1)), SPEC, on_error="ignore"))


def test_result_log_resumes_after_last_row_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    log = ResultLog(out, {"a": 1})
    log.append([{"row": 0, "x": 1.0}, {"row": 1, "x": 2.0}])
    log.close()
    with open(out, "ab") as fh:  # a crash in the middle of an append
        fh.write(b'{"row": 2, "x"')
    again = ResultLog(out, {"a": 1})
    assert (again.next_row, again.done) == (2, 2)
    again.append([{"row": 2, "x": 3.0}])
    again.finish({"rows": 3})
    assert [r["x"] for r in read_results(out)] == [1.0, 2.0, 3.0]
    assert json.loads(meta_path(out).read_text())["complete"] is True


def test_result_log_refuses_other_settings_and_disorder(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    log = ResultLog(out, {"model": "a", "k": 4})
    log.append([{"row": 0}])
    with pytest.raises(DataError, match="increasing row order"):
        log.append([{"row": 0}])
    log.close()
    with pytest.raises(ResumeError, match="differ in: k"):
        ResultLog(out, {"model": "a", "k": 8})
    assert len(list(read_results(out))) == 1  # left untouched
    fresh = ResultLog(out, {"model": "a", "k": 8}, overwrite=True)
    assert fresh.next_row == 0 and out.read_text() == ""
    fresh.close()
    (tmp_path / "foreign.jsonl").write_text('{"row": 0}\n')
    with pytest.raises(ResumeError, match="not written by zpd"):
        ResultLog(tmp_path / "foreign.jsonl", {})


def test_atomic_open_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial\n")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
