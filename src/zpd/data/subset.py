"""File-level twin of ``zpd select``: score a dataset (EL2N, forgetting, LESS), keep a fraction.

What it is: :func:`select` runs one of the scorers of ``selection`` / ``less`` over a dataset
through the resumable ``pipeline`` (scores go to ``OUT.scores.jsonl``), ranks the scored rows with
:func:`zpd.data.selection.keep_indices` and streams the kept rows (the original records plus
``zpd_score``) into ``OUT`` atomically, with a report in ``OUT.report.json``. Memory: one float per
row for the ranking. What it is not: the scoring math (see ``selection`` and ``less``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from zpd.core.atomic import atomic_open, atomic_write_json
from zpd.data.errors import DataError
from zpd.data.io import (
    FieldSpec,
    Item,
    Skipped,
    dumps,
    iter_items,
    parse_enum,
    read_results,
)
from zpd.data.less import LessCheckpoint, LessConfig, LessSelector
from zpd.data.pipeline import RunConfig, run_file
from zpd.data.ray_backend import RayConfig, executor_for
from zpd.data.selection import EL2NScorer, ForgettingScorer, KeepStrategy, keep_indices


class SelectMethod(str, Enum):
    """Scores ``zpd select`` can rank by (higher = harder, or for LESS = more target-aligned)."""

    EL2N = "el2n"
    FORGETTING = "forgetting"
    LESS = "less"


@dataclass(frozen=True)
class TargetSpec:
    """LESS target examples: a dataset file and its columns."""

    path: str
    """Dataset of target (validation) examples."""
    prompt_field: str = "prompt"
    """Prompt column."""
    answer_field: str = "answer"
    """Answer column."""
    subset_field: str | None = None
    """Column naming each example's target subset (task); None: one subset."""


class _ScoreBatch:
    def __init__(self, scorer: Any):
        self.scorer = scorer

    def __call__(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        if not items:
            return []
        s = self.scorer.score([str(it.text["prompt"]) for it in items],
                              [str(it.text["answer"]) for it in items])
        return [{"score": float(v)} for v in np.asarray(s, dtype=np.float64)]


def _targets(spec: TargetSpec) -> tuple[list[str], list[str], list[Any] | None]:
    fs = FieldSpec(required=(("prompt", spec.prompt_field), ("answer", spec.answer_field)),
                   category=spec.subset_field)
    items = [it for it in iter_items(spec.path, fs) if isinstance(it, Item)]
    subsets = [it.category for it in items] if spec.subset_field else None
    return ([str(it.text["prompt"]) for it in items], [str(it.text["answer"]) for it in items],
            subsets)


@dataclass(frozen=True)
class SelectTask:
    """Picklable description of a selection-scoring job (see ``pipeline.Task``)."""

    method: SelectMethod
    """el2n, forgetting or less."""
    models: tuple[str, ...]
    """EL2N: models to average; forgetting: checkpoints in training order; LESS: checkpoints."""
    threshold: float = 1.0
    """Forgetting: answer-token accuracy that counts as learned."""
    less: LessConfig = field(default_factory=LessConfig)
    """LESS settings."""
    targets: TargetSpec | None = None
    """LESS target examples."""
    device: str = "auto"
    """Torch device."""
    dtype: str = "auto"
    """Weights dtype (EL2N / forgetting; LESS always uses float32)."""
    bos: str = "auto"
    """What goes before every sequence: auto (the tokenizer\'s own convention), always
    (force BOS, else EOS) or never (``zpd.data.model_io.BosMode``)."""

    def settings(self) -> dict[str, Any]:
        return {"command": "select", "method": SelectMethod(self.method).value,
                "models": [str(Path(m).resolve()) for m in self.models],
                "threshold": self.threshold, "less": asdict(self.less),
                "targets": asdict(self.targets) if self.targets else None, "dtype": self.dtype, "bos": self.bos}

    def __call__(self) -> _ScoreBatch:
        from zpd.data.model_io import load_model

        method = SelectMethod(self.method)
        if method is SelectMethod.LESS:
            if self.targets is None:
                raise DataError("LESS needs target examples (targets=TargetSpec(...) / --targets)")
            sel = LessSelector([LessCheckpoint.from_dir(m) for m in self.models], self.less,
                               device=self.device)
            return _ScoreBatch(sel.fit(*_targets(self.targets)))
        lms = [load_model(m, device=self.device, dtype=self.dtype,
                        bos=self.bos) for m in self.models]
        if method is SelectMethod.EL2N:
            return _ScoreBatch(EL2NScorer(lms))
        return _ScoreBatch(ForgettingScorer(lms, threshold=self.threshold))


def select(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    method: SelectMethod | str,
    models: Sequence[str | os.PathLike[str]],
    fraction: float,
    strategy: KeepStrategy | str = "hard",
    seed: int = 0,
    prompt_field: str = "prompt",
    answer_field: str = "answer",
    id_field: str | None = None,
    targets: TargetSpec | None = None,
    less: LessConfig | None = None,
    threshold: float = 1.0,
    run: RunConfig | None = None,
    device: str = "auto",
    dtype: str = "auto",
    bos: str = "auto",
    ray: RayConfig | None = None,
) -> dict[str, Any]:
    """API twin of ``zpd select``; returns the report (also written to ``OUT.report.json``)."""
    from zpd.data.model_io import check_model_dir

    how = parse_enum(SelectMethod, method, "method")
    keep_how = parse_enum(KeepStrategy, strategy, "strategy")
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"fraction must be in (0, 1]; got {fraction}")
    for m in models:
        if not (how is SelectMethod.LESS and (Path(m) / "lora.json").exists()):
            check_model_dir(m)  # LESS also takes LoRA checkpoint folders from warmup
    if how is SelectMethod.FORGETTING and len(models) < 2:
        raise DataError("forgetting needs >= 2 checkpoints in training order (--model A --model B)")
    if how is SelectMethod.LESS and targets is None:
        raise DataError("LESS needs target examples: targets=TargetSpec(path) / --targets FILE")
    run = run or RunConfig()
    spec = FieldSpec(required=(("prompt", prompt_field), ("answer", answer_field)), id=id_field)
    task = SelectTask(method=how, models=tuple(str(m) for m in models), threshold=threshold,
                      less=less or LessConfig(), targets=targets, device=device, dtype=dtype,
                      bos=bos)
    out_path = Path(out)
    scores_path = out_path.with_name(out_path.name + ".scores.jsonl")
    summary = run_file(data, spec, scores_path, task, run, executor=executor_for(ray),
                       desc=f"select {how.value}")
    rows = np.array([r["row"] for r in read_results(scores_path)], dtype=np.int64)
    scores = np.array([r["score"] for r in read_results(scores_path)], dtype=np.float64)
    kept_rows = rows[keep_indices(scores, fraction, keep_how, seed)]
    by_row = dict(zip(rows.tolist(), scores.tolist()))
    _write_kept(data, spec, run, out_path, set(kept_rows.tolist()), by_row)
    report = {"method": how.value, "strategy": keep_how.value, "fraction": fraction,
              "rows": summary.rows, "scored": int(rows.size), "kept": int(kept_rows.size),
              "skipped_rows": summary.skipped, "scores_file": str(scores_path),
              "score_quantiles": _quantiles(scores), "kept_file": str(out_path)}
    atomic_write_json(out_path.with_name(out_path.name + ".report.json"), report)
    return report


def _quantiles(scores: np.ndarray) -> dict[str, float]:
    if scores.size == 0:
        return {}
    qs = np.quantile(scores, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {k: float(v) for k, v in zip(("min", "q25", "median", "q75", "max"), qs)}


def _write_kept(data: str | os.PathLike[str], spec: FieldSpec, run: RunConfig, out: Path,
                keep: set[int], scores: dict[int, float]) -> None:
    with atomic_open(out) as fh:
        for it in iter_items(data, spec, on_error=run.on_error, split=run.split):
            if isinstance(it, Skipped) or it.row not in keep:
                continue
            fh.write(dumps({**dict(it.raw), "zpd_score": scores[it.row]}))
