"""Streaming dataset readers and a resumable, append-only result log.

What it is: the file layer of ``zpd.data``. Readers stream rows from JSONL, Parquet or a local
Hugging Face ``datasets`` directory (``save_to_disk``) without loading the file into memory, number
every row, and turn a malformed row into a :class:`RowError` that names the file and the row (or,
with ``on_error="skip"``, into a counted :class:`Skipped` marker). :class:`ResultLog` appends result
records as JSON lines, fsyncs each batch, and on a second run with the same settings resumes after
the last finished row. What it is not: scoring or model code (see ``pipeline``, ``distance``,
``difficulty``); it imports neither torch nor transformers.

Row numbers: ``row`` is the 0-based position of a record in the dataset (blank JSONL lines are not
records), i.e. the index a trainer's dataset would give it; JSONL errors also name the 1-based line.
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from zpd.core.atomic import atomic_write_bytes, atomic_write_json
from zpd.data.errors import DataError, ResumeError, RowError

# Rows read from Parquet / HF datasets per underlying batch: bounded memory, cheap per-row overhead.
_READ_BATCH = 1024


class DataFormat(str, Enum):
    """On-disk dataset formats the readers understand."""

    JSONL = "jsonl"
    PARQUET = "parquet"
    HF = "hf"


class OnError(str, Enum):
    """What to do with a malformed row."""

    RAISE = "raise"
    SKIP = "skip"


def parse_enum(enum_type: type[Enum], value: Any, what: str) -> Any:
    """Parse a string (or member) into ``enum_type``; a clear :class:`DataError` otherwise."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum_type)  # type: ignore[attr-defined]
        raise DataError(f"{what} must be one of {choices}; got {value!r}") from None


def detect_format(path: str | os.PathLike[str]) -> DataFormat:
    """Guess the format of ``path`` from its suffix (or, for a directory, Hugging Face datasets)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"dataset {str(p)!r} does not exist; pass a JSONL or Parquet file or a "
                        "directory written by datasets' save_to_disk")
    if p.is_dir():
        markers = ("dataset_info.json", "state.json", "dataset_dict.json")
        if any((p / m).exists() for m in markers):
            return DataFormat.HF
        raise DataError(f"{str(p)!r} is a directory but not a Hugging Face datasets directory "
                        f"(none of {', '.join(markers)}); save it with Dataset.save_to_disk")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return DataFormat.JSONL
    if suffix in (".parquet", ".pq"):
        return DataFormat.PARQUET
    raise DataError(f"cannot tell the format of {str(p)!r} from its suffix {suffix!r}; use "
                    ".jsonl, .parquet, or a datasets directory")


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, a byte-order mark on the first line allowed; bytes
    that are not UTF-8 are a :class:`DataError` naming the file and the line."""
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                yield line_no, raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}: line {line_no} is not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start}); is this the right file? JSON lines must be UTF-8"
                                ) from None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, int | None, dict[str, Any] | RowError]]:
    row = 0
    for line_no, line in text_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield row, line_no, RowError(
                f"{path}: line {line_no} (row {row}) is not valid JSON ({exc.msg} at column "
                f"{exc.colno}); fix the line or pass on_error='skip' / --on-error skip",
                path=str(path), row=row, line=line_no, reason="bad_json")
        else:
            if isinstance(rec, dict):
                yield row, line_no, rec
            else:
                yield row, line_no, RowError(
                    f"{path}: line {line_no} (row {row}) is a JSON {type(rec).__name__}, not an "
                    "object; each line must be one JSON object",
                    path=str(path), row=row, line=line_no, reason="not_object")
        row += 1


def _iter_parquet(path: Path) -> Iterator[tuple[int, int | None, dict[str, Any] | RowError]]:
    import pyarrow.parquet as pq

    row = 0
    try:
        reader = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and friends
        raise DataError(f"{path} is not a readable Parquet file ({exc}); check the file, or name "
                        "JSON lines .jsonl") from None
    for batch in reader.iter_batches(batch_size=_READ_BATCH):
        for rec in batch.to_pylist():
            yield row, None, rec
            row += 1


def _load_hf(path: Path, split: str | None) -> Any:
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds.keys())
        if split is None and len(names) == 1:
            split = names[0]
        if split not in ds:
            raise DataError(f"{path} holds splits {names}; choose one with split= / --split")
        ds = ds[split]
    elif split is not None:
        raise DataError(f"{path} is a single dataset without splits; drop split={split!r}")
    return ds


def _iter_hf(path: Path, split: str | None) -> Iterator[tuple[int, int | None, dict[str, Any]]]:
    ds = _load_hf(path, split)
    row = 0
    for batch in ds.iter(batch_size=_READ_BATCH):
        cols = list(batch.keys())
        n = len(batch[cols[0]]) if cols else 0
        for i in range(n):
            yield row, None, {c: batch[c][i] for c in cols}
            row += 1


def iter_rows(
    path: str | os.PathLike[str], *, split: str | None = None
) -> Iterator[tuple[int, int | None, dict[str, Any] | RowError]]:
    """Stream ``(row, line, record_or_error)`` from a dataset; memory does not grow with the file."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt is DataFormat.JSONL:
        return _iter_jsonl(p)
    if fmt is DataFormat.PARQUET:
        return _iter_parquet(p)
    return _iter_hf(p, split)


@dataclass(frozen=True)
class FieldSpec:
    """Which columns of a row a tool reads, by role."""

    required: tuple[tuple[str, str], ...] = (("prompt", "prompt"),)
    """(role, column) pairs that every row must have as a non-empty string (or a number)."""
    optional: tuple[tuple[str, str], ...] = ()
    """(role, column) pairs that may be missing or null (the role's text is then ``None``)."""
    id: str | None = None
    """Column holding an item id (str or int); ``None`` uses the row number."""
    category: str | None = None
    """Column holding a category (str or int); ``None`` means no category."""

    def __post_init__(self) -> None:
        roles = [r for r, _ in self.required + self.optional]
        if len(set(roles)) != len(roles):
            raise DataError(f"field roles must be distinct; got {roles}")
        for role, col in self.required + self.optional:
            if not isinstance(col, str) or not col:
                raise DataError(f"the column for {role!r} must be a non-empty name; got {col!r}")


@dataclass(frozen=True)
class Item:
    """One valid row: its position, id, category, the texts by role, and the raw record."""

    row: int
    id: str | int
    category: str | int | None
    text: Mapping[str, str | None]
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Skipped:
    """A malformed row that was skipped (``on_error="skip"``) with the reason."""

    row: int
    reason: str
    message: str


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


def _where(path: Path, row: int, line: int | None) -> str:
    return f"{path}: line {line} (row {row})" if line is not None else f"{path}: row {row}"


def _validate(path: Path, row: int, line: int | None, rec: dict[str, Any], spec: FieldSpec) -> Item:
    texts: dict[str, str | None] = {}
    for role, col in spec.required:
        if col not in rec:
            have = ", ".join(sorted(map(str, rec))[:12])
            raise RowError(f"{_where(path, row, line)} has no field {col!r} (the {role}); fields "
                           f"present: {have}. Name the right column (e.g. --{role}-field) or fix "
                           "the row", path=str(path), row=row, line=line, reason="missing_field")
        txt = _as_text(rec[col])
        if txt is None or not txt:
            raise RowError(f"{_where(path, row, line)}: field {col!r} (the {role}) must be a "
                           f"non-empty string or a number; got {rec[col]!r:.60}",
                           path=str(path), row=row, line=line, reason="bad_field")
        texts[role] = txt
    for role, col in spec.optional:
        value = rec.get(col)
        txt = _as_text(value)
        if value is not None and txt is None:
            raise RowError(f"{_where(path, row, line)}: field {col!r} (the {role}) must be a string,"
                           f" a number or null; got {value!r:.60}",
                           path=str(path), row=row, line=line, reason="bad_field")
        texts[role] = txt
    item_id: str | int = row
    if spec.id is not None:
        value = rec.get(spec.id)
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise RowError(f"{_where(path, row, line)}: id field {spec.id!r} must be a string or "
                           f"an integer; got {value!r:.60}", path=str(path), row=row, line=line,
                           reason="bad_id")
        item_id = value
    category: str | int | None = None
    if spec.category is not None:
        value = rec.get(spec.category)
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise RowError(f"{_where(path, row, line)}: category field {spec.category!r} must be "
                           f"a string or an integer; got {value!r:.60}", path=str(path), row=row,
                           line=line, reason="bad_category")
        category = value
    return Item(row=row, id=item_id, category=category, text=texts, raw=rec)


def iter_items(
    path: str | os.PathLike[str],
    spec: FieldSpec,
    *,
    on_error: OnError | str = OnError.RAISE,
    start_row: int = 0,
    split: str | None = None,
) -> Iterator[Item | Skipped]:
    """Stream validated :class:`Item` s (and :class:`Skipped` markers) from row ``start_row`` on.

    With ``on_error="raise"`` the first malformed row raises :class:`RowError`; with ``"skip"`` it
    is yielded as :class:`Skipped` so the caller can count (and log) it.
    """
    policy = parse_enum(OnError, on_error, "on_error")
    p = Path(path)
    for row, line, rec in iter_rows(p, split=split):
        if row < start_row:
            continue
        try:
            if isinstance(rec, RowError):
                raise rec
            yield _validate(p, row, line, rec, spec)
        except RowError as err:
            if policy is OnError.RAISE:
                raise
            yield Skipped(row=row, reason=err.reason, message=str(err))


@dataclass
class ScanSummary:
    """What a validation pass over a dataset found."""

    rows: int = 0
    valid: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def scan(
    path: str | os.PathLike[str],
    spec: FieldSpec,
    *,
    on_error: OnError | str = OnError.RAISE,
    split: str | None = None,
) -> ScanSummary:
    """Validate every row before any model work, so a bad row fails fast (or is counted)."""
    summary = ScanSummary()
    for it in iter_items(path, spec, on_error=on_error, split=split):
        summary.rows += 1
        if isinstance(it, Skipped):
            summary.skipped[it.reason] = summary.skipped.get(it.reason, 0) + 1
        else:
            summary.valid += 1
    return summary


def dumps(record: Mapping[str, Any]) -> str:
    """One JSON line (NaN refused: write :func:`clean_float` values)."""
    return json.dumps(record, allow_nan=False, default=_json_default) + "\n"


def write_jsonl(path: str | os.PathLike[str], records: Sequence[Mapping[str, Any]]) -> None:
    """Write a (small) list of records as JSONL atomically."""
    text = "".join(dumps(r) for r in records)
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays reach the writer from scorers; keep them plain JSON.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def clean_float(x: float) -> float | None:
    """JSON has no NaN/inf: write them as null."""
    x = float(x)
    return x if math.isfinite(x) else None


def rows_from_columns(cols: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    """Columns of arrays -> one JSON-ready dict per item (NaN/inf written as null)."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, arr in cols.items():
        for i, v in enumerate(arr.tolist() if hasattr(arr, "tolist") else list(arr)):
            out[i][key] = clean_float(v) if isinstance(v, float) else v
    return out


def meta_path(path: str | os.PathLike[str]) -> Path:
    """The settings/completion sidecar of a result log."""
    p = Path(path)
    return p.with_name(p.name + ".meta.json")


def skipped_path(path: str | os.PathLike[str]) -> Path:
    """Where a result log keeps its skipped-row records (``OUT.skipped.jsonl``), apart from the
    results, so that a plain reader of ``OUT`` sees results only."""
    p = Path(path)
    return p.with_name(p.name + ".skipped.jsonl")


def _whole_records(path: Path) -> Iterator[tuple[int | None, int]]:
    """(row, byte length) of each whole line of a log; row None for a torn or unreadable line
    (reading stops there)."""
    with open(path, "rb") as fh:
        for line in fh:
            row: int | None = None
            if line.endswith(b"\n"):
                try:
                    row = int(json.loads(line)["row"])
                except (ValueError, KeyError, TypeError):
                    row = None
            yield row, len(line)
            if row is None:
                return


class ResultLog:
    """Append-only JSONL results with a resume index (records must arrive in row order).

    Each record carries ``row``. A skipped malformed row is logged as ``{"row": r, "skipped":
    why}`` in a file of its own, ``OUT.skipped.jsonl`` (:func:`skipped_path`), so that ``OUT``
    holds results only and a resumed run neither redoes nor forgets the skipped row; a finished
    run in which no row was skipped removes the (empty) file. Appends
    are flushed and fsynced per batch; a torn last line left by a crash is cut on the next open.
    (Appending, not rewriting the whole file per batch, keeps a 100k-row run linear; the sidecar
    ``.meta.json`` is written atomically.) A second run with the same ``settings`` resumes at
    :attr:`next_row`; different settings raise :class:`ResumeError` unless ``overwrite=True``.
    """

    def __init__(self, path: str | os.PathLike[str], settings: Mapping[str, Any], *,
                 overwrite: bool = False):
        self.path = Path(path)
        self.skipped_path = skipped_path(self.path)
        self.settings = json.loads(json.dumps(dict(settings)))  # normalise (tuples -> lists)
        self.next_row = 0
        self.done = 0
        mpath = meta_path(self.path)
        exists = self.path.exists() or mpath.exists()
        if exists and not overwrite:
            self._check_settings(mpath)
            self._recover()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(mpath, {"zpd_result_log": 1, "settings": self.settings,
                                      "complete": False})
            atomic_write_bytes(self.path, b"")
            atomic_write_bytes(self.skipped_path, b"")
        self._fh = open(self.path, "ab")
        self._skip_fh = open(self.skipped_path, "ab")

    def _check_settings(self, mpath: Path) -> None:
        if not mpath.exists():
            raise ResumeError(f"{self.path} exists but has no {mpath.name}, so it was not written "
                              "by zpd; choose another output or pass overwrite=True / --overwrite")
        try:
            meta = json.loads(mpath.read_text(encoding="utf-8-sig"))
            old = meta.get("settings", {}) if isinstance(meta, dict) else None
        except (OSError, ValueError) as exc:
            raise ResumeError(f"{mpath} (the sidecar of {self.path}) is damaged ({exc}); pass "
                              "--overwrite to start the results over") from None
        if not isinstance(old, dict):
            raise ResumeError(f"{mpath} is not a zpd result sidecar; pass --overwrite to start "
                              "the results over")
        if old != self.settings:
            keys = _changed_keys(old, self.settings)
            raise ResumeError(f"{self.path} was written with other settings (differ in: "
                              f"{', '.join(keys)}); resume needs the same settings — choose another "
                              "output or pass overwrite=True / --overwrite")

    def _recover(self) -> None:
        """Keep the longest prefix of whole records (results and skipped marks together) whose
        rows are exactly 0, 1, 2, ...: a torn tail, a gap, a duplicate or an out-of-order row ends
        it, and everything after is cut from both files (and scored again), so a resumed log
        equals a clean run's."""
        files = (self.path, self.skipped_path)
        for f in files:
            if not f.exists():
                atomic_write_bytes(f, b"")
        streams = [_whole_records(f) for f in files]
        heads = [next(st, None) for st in streams]
        ends = [0, 0]
        while True:
            match = [k for k, h in enumerate(heads) if h is not None and h[0] == self.next_row]
            if len(match) != 1:
                break  # the next row is missing, torn, or in both files: rescore from here
            k = match[0]
            ends[k] += heads[k][1]  # type: ignore[index]
            heads[k] = next(streams[k], None)
            self.next_row += 1
            self.done += 1
        for f, end in zip(files, ends):
            if end != f.stat().st_size:
                os.truncate(f, end)  # a torn tail, or rows after a gap

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records (in row order) and make them durable before returning."""
        if not records:
            return
        rows = [int(r["row"]) for r in records]
        if rows[0] < self.next_row or any(b <= a for a, b in zip(rows, rows[1:])):
            raise DataError(f"records must arrive in increasing row order after row "
                            f"{self.next_row - 1}; got rows {rows[:5]}...")
        for fh, part in ((self._skip_fh, [r for r in records if "skipped" in r]),
                         (self._fh, [r for r in records if "skipped" not in r])):
            if part:
                fh.write("".join(dumps(r) for r in part).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
        self.next_row = rows[-1] + 1
        self.done += len(records)

    def finish(self, summary: Mapping[str, Any], rows: int | None = None) -> None:
        """Mark the log complete and store a summary in its sidecar; with ``rows`` (the input's
        row count), refuse unless every row 0..rows-1 has exactly one record."""
        self.close()
        if self.skipped_path.exists() and self.skipped_path.stat().st_size == 0:
            self.skipped_path.unlink()  # nothing was skipped: leave no empty companion behind
        if rows is not None and (self.next_row != rows or self.done != rows):
            raise DataError(f"{self.path} holds {self.done} records for rows 0..{self.next_row - 1}"
                            f" but the input has {rows} rows; rerun the command to resume")
        atomic_write_json(meta_path(self.path), {"zpd_result_log": 1, "settings": self.settings,
                                                 "complete": True, "summary": dict(summary)})

    def close(self) -> None:
        """Close the file handles (idempotent)."""
        for fh in (self._fh, self._skip_fh):
            if not fh.closed:
                fh.close()

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the settings that differ (``config.k``, not just ``config``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            if old.get(k) != new.get(k):
                out += _changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [prefix.rstrip(".")]


def read_results(path: str | os.PathLike[str], *, include_skipped: bool = False
                 ) -> Iterator[dict[str, Any]]:
    """Stream the records of a result log; with ``include_skipped`` the skipped-row marks of
    ``OUT.skipped.jsonl`` are merged in, in row order."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"result file {str(p)!r} does not exist; run the scoring command first")
    results = _read_log(p)
    if not include_skipped:  # a log written before skipped marks had a file of their own
        results = (rec for rec in results if "skipped" not in rec)
    sp = skipped_path(p)
    if not include_skipped or not sp.exists():
        yield from results
        return
    yield from heapq.merge(results, _read_log(sp), key=lambda rec: int(rec.get("row", -1)))


def _read_log(p: Path) -> Iterator[dict[str, Any]]:
    for line_no, line in text_lines(p):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{p}: line {line_no} is not valid JSON; the result file is "
                            "damaged — rerun the command to resume and repair it") from None
        if not isinstance(rec, dict):
            raise DataError(f"{p}: line {line_no} is a JSON {type(rec).__name__}, not a "
                            "result record; is this a zpd result file?")
        yield rec
