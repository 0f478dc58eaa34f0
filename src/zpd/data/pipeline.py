"""The streaming runner every scoring command shares: validate, read, batch, score, append, resume.

What it is: :func:`run_file` takes a dataset path, a :class:`FieldSpec`, an output path and a
*task* (a picklable factory that builds a :class:`BatchScorer` — the model is loaded once, inside
the worker that uses it) and

1. validates every row first (a malformed row raises :class:`RowError` naming file and row before
   any model is loaded, or is skipped and counted with ``on_error="skip"``);
2. opens a :class:`ResultLog`; if the same run was interrupted, continues after its last row;
3. streams batches of ``batch_rows`` items through the scorer (locally, or through an executor such
   as :func:`zpd.data.ray_backend.ray_executor`) and appends each batch durably;
4. shows progress on stderr and writes a summary into the log's sidecar.

Memory is bounded by one batch (plus the executor's look-ahead), not by the dataset.
What it is not: any scoring itself (``distance``, ``difficulty``, ``selection``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from zpd.data.errors import DataError
from zpd.data.io import (
    FieldSpec,
    Item,
    OnError,
    ResultLog,
    Skipped,
    iter_items,
    parse_enum,
    read_results,
    scan,
)


class BatchScorer(Protocol):
    """Scores a batch of items; returns one dict of result fields per item, in order."""

    def __call__(self, items: Sequence[Item]) -> list[dict[str, Any]]: ...


class Task(Protocol):
    """A picklable description of a scoring job; calling it builds the :class:`BatchScorer`."""

    def __call__(self) -> BatchScorer: ...

    def settings(self) -> dict[str, Any]:
        """JSON-able settings that decide the results (a resume must match them)."""
        ...


# An executor maps a stream of item batches to a stream of record lists, one per batch, in order.
Executor = Callable[[Iterator[list[Item]], Task], Iterator[list[dict[str, Any]]]]


def local_executor(batches: Iterator[list[Item]], task: Task) -> Iterator[list[dict[str, Any]]]:
    """Run the scorer in this process (transformers on CPU or GPU, or vLLM)."""
    scorer = task()
    for batch in batches:
        yield scorer(batch)


@dataclass(frozen=True)
class RunConfig:
    """How :func:`run_file` reads, batches and writes."""

    batch_rows: int = 256
    """Items per scoring call; each batch is appended to the output durably before the next."""
    on_error: OnError | str = OnError.RAISE
    """``raise``: a malformed row stops the run before any model work; ``skip``: log and count it."""
    overwrite: bool = False
    """Start over even if the output exists (default: resume it, if its settings match)."""
    progress: bool = True
    """Show a progress bar on stderr."""
    split: str | None = None
    """Split of a Hugging Face ``DatasetDict`` directory."""

    def __post_init__(self) -> None:
        if self.batch_rows < 1:
            raise DataError(f"batch_rows must be >= 1; got {self.batch_rows}")
        object.__setattr__(self, "on_error", parse_enum(OnError, self.on_error, "on_error"))


@dataclass
class RunSummary:
    """What a run did; also stored in the output's ``.meta.json``."""

    rows: int
    scored: int
    skipped: dict[str, int] = field(default_factory=dict)
    resumed_from: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "scored": self.scored, "skipped": dict(self.skipped),
                "resumed_from": self.resumed_from, "seconds": round(self.seconds, 3)}


def _progress(total: int, initial: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the lab extra
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="row", file=sys.stderr,
                dynamic_ncols=True)


def _chunks(stream: Iterator[Item | Skipped], size: int, pending: deque[list[Skipped]]
            ) -> Iterator[list[Item]]:
    """Group items into batches; remember each batch's skipped rows for the merge."""
    items: list[Item] = []
    skipped: list[Skipped] = []
    for it in stream:
        if isinstance(it, Skipped):
            skipped.append(it)
            continue
        items.append(it)
        if len(items) == size:
            pending.append(skipped)
            yield items
            items, skipped = [], []
    pending.append(skipped)
    yield items


def _merge(items_records: list[dict[str, Any]], skipped: list[Skipped]) -> list[dict[str, Any]]:
    marks = [{"row": s.row, "skipped": s.reason, "message": s.message} for s in skipped]
    return sorted(items_records + marks, key=lambda r: int(r["row"]))


def _records(batch: Sequence[Item], scores: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if len(scores) != len(batch):
        raise DataError(f"a scorer returned {len(scores)} results for {len(batch)} items")
    out = []
    for item, sc in zip(batch, scores):
        rec: dict[str, Any] = {"row": item.row, "id": item.id}
        if item.category is not None:
            rec["category"] = item.category
        rec.update(sc)
        out.append(rec)
    return out


def input_fingerprint(data: Path) -> str:
    """sha256 of the input's bytes (of every file under it, for a ``datasets`` directory): a
    resume against a changed input is refused."""
    h = hashlib.sha256()
    files = [data] if data.is_file() else sorted(p for p in data.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(data) if f != data else f.name).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _settings(data: Path, spec: FieldSpec, run: RunConfig, task: Task, rows: int
              ) -> dict[str, Any]:
    return {"data": str(data.resolve()),
            "data_bytes": data.stat().st_size if data.is_file() else None,
            "data_rows": rows, "data_sha256": input_fingerprint(data),
            "split": run.split, "fields": {"required": list(spec.required),
                                           "optional": list(spec.optional),
                                           "id": spec.id, "category": spec.category},
            **task.settings()}


def _final_summary(out: Path, rows: int, resumed: int, t0: float) -> RunSummary:
    summary = RunSummary(rows=rows, scored=0, resumed_from=resumed)
    for rec in read_results(out, include_skipped=True):
        if "skipped" in rec:
            summary.skipped[rec["skipped"]] = summary.skipped.get(rec["skipped"], 0) + 1
        else:
            summary.scored += 1
    summary.seconds = time.perf_counter() - t0
    return summary


def run_file(
    data: str | os.PathLike[str],
    spec: FieldSpec,
    out: str | os.PathLike[str],
    task: Task,
    run: RunConfig | None = None,
    *,
    executor: Executor = local_executor,
    desc: str = "zpd",
) -> RunSummary:
    """Score a dataset file into a resumable JSONL result log (see the module docstring)."""
    run = run or RunConfig()
    t0 = time.perf_counter()
    data_path, out_path = Path(data), Path(out)
    if data_path.resolve() == out_path.resolve():
        raise DataError(f"the output {out_path} would overwrite the input; choose another path")
    if out_path.suffix.lower() in (".parquet", ".pq", ".arrow"):
        raise DataError(
            f"the output {out_path} is named {out_path.suffix} but results are written as JSON lines "
            "(resumable, one record per row): name it .jsonl, then convert if you need to with "
            "pandas.read_json(path, lines=True).to_parquet(...)")
    checked = scan(data_path, spec, on_error=run.on_error, split=run.split)
    if checked.rows == 0:
        raise DataError(f"{data_path} has no rows: nothing to score (check the file, or --split "
                        "for a datasets directory)")
    log = ResultLog(out_path, _settings(data_path, spec, run, task, checked.rows),
                    overwrite=run.overwrite)
    if log.next_row > checked.rows:  # cannot happen with the same input (its hash is checked)
        log.close()
        raise DataError(f"{out_path} has results for {log.next_row} rows but {data_path} has "
                        f"{checked.rows}; pass --overwrite to start over")
    resumed = log.next_row
    bar = _progress(checked.rows, min(resumed, checked.rows), run.progress, desc)
    try:
        if resumed < checked.rows:
            pending: deque[list[Skipped]] = deque()
            stream = iter_items(data_path, spec, on_error=run.on_error, start_row=resumed,
                                split=run.split)
            batches = _chunks(stream, run.batch_rows, pending)
            kept: deque[list[Item]] = deque()
            for recs in executor(_remember(batches, kept), task):
                batch = kept.popleft()
                merged = _merge(_records(batch, recs), pending.popleft())
                log.append(merged)
                if bar is not None:
                    bar.update(len(merged))
    finally:
        log.close()
        if bar is not None:
            bar.close()
    summary = _final_summary(out_path, checked.rows, resumed, t0)
    log.finish(summary.as_dict(), rows=checked.rows)
    return summary


def _remember(batches: Iterator[list[Item]], kept: deque[list[Item]]) -> Iterator[list[Item]]:
    for b in batches:
        kept.append(b)
        yield b
