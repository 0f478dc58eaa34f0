"""Keep a teacher's refinement of a (prompt, answer) pair only where the student can reach it.

What it is: the student-side selection rule of Selective Reflection-Tuning (Li et al., arXiv
2402.10110), computed from the student's own statistics (``distance``: IFD and reversed IFD):

* a refined **prompt** (the paper's instruction reflection, which may bring its own new answer) is an
  improvement when it makes the pair *more* challenging for the student, IFD(refined) >
  IFD(original) (+ ``min_ifd_gain``); this test alone decides it, as in the paper;
* a refined **answer** alone (response reflection) is an improvement when it lets the student infer
  the prompt *more easily*, r-IFD(refined) < r-IFD(original) (- ``min_rifd_drop``);
* whatever pair is kept must be within reach: IFD < ``max_ifd`` and r-IFD < ``max_rifd`` (both 1 in
  the paper: the prompt must help predict the answer, and the answer must help infer the prompt).

The authors' README: "We utilize the IFD score to select reflected instructions and utilize the
r-IFD score to select reflected responses."

r-IFD needs a student that learned to predict prompts, and IFD's denominator NLL(y) one that
learned to predict an answer with no prompt in front. One trained with loss on completions only
(the lab's checkpoints) learned neither: both are out of its distribution (on the lab base NLL(y)
is ~5 nats/token and swings with no relation to difficulty), and only NLL(y | x) is not. For such
a student both tests are zpd's ``answer-nll``: a refined prompt must make the answer *harder*
for the student, NLL(y' | x') > NLL(y | x) (+ ``min_ifd_gain``; :class:`PromptTest`), a refined
answer alone must be *more feasible*, NLL(y' | x) < NLL(y | x) (- ``min_rifd_drop``;
:class:`ResponseTest`), and the IFD / r-IFD bound that test replaces is not read. ``auto`` picks
them only for a student known to be completion-only.

Two guards zpd adds, because IFD and r-IFD are *ratios* and a student can "predict" text it
cannot read from a copy of it in the context (English pairs under the lab's digit model had
IFD 0.2 and r-IFD 0.02, and the paper's rule accepted every one): a kept pair may hold no more
than ``max_unknown_share`` of tokens the student's tokenizer maps to its unknown token, and its
answer must be predicted better than chance, NLL(y | x) per token < ``max_answer_nll`` (default
ln(vocabulary size), a uniform guess).

Per row the result is ``refined`` (kept), ``original`` (refinement rejected, original kept — set
``keep_original=False`` to drop it as the paper's released selection does) or ``dropped``, with the
reason. What it is not: the teacher (producing refinements is up to you).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from zpd.core.atomic import atomic_open, atomic_write_json
from zpd.data.distance import DistanceConfig, DistanceScorer
from zpd.data.errors import DataError
from zpd.data.io import (
    FieldSpec,
    Item,
    Skipped,
    clean_float,
    dumps,
    iter_items,
    parse_enum,
    read_results,
)
from zpd.data.pipeline import RunConfig, run_file
from zpd.data.ray_backend import RayConfig, executor_for


class PromptTest(str, Enum):
    """How a refined prompt (with or without a new answer) is judged harder than the original."""

    AUTO = "auto"
    """IFD, except answer-nll for a student known to be trained on completions only."""
    IFD = "ifd"
    """The paper's: IFD(refined) > IFD(original), and IFD < ``max_ifd`` to be kept."""
    ANSWER_NLL = "answer-nll"
    """zpd's, for completion-only students: NLL(refined answer | refined prompt) >
    NLL(original answer | original prompt); IFD is not read."""


class ResponseTest(str, Enum):
    """How a refined answer (prompt unchanged) is judged better than the original."""

    AUTO = "auto"
    """r-IFD, except answer-nll for a student known to be trained on completions only."""
    RIFD = "rifd"
    """The paper's: r-IFD(refined) < r-IFD(original), and r-IFD < ``max_rifd`` to be kept."""
    ANSWER_NLL = "answer-nll"
    """zpd's, for completion-only students: NLL(refined answer | prompt) < NLL(original | prompt);
    r-IFD is not read."""


@dataclass(frozen=True)
class RefinementConfig:
    """Thresholds of the refinement filter (defaults: arXiv 2402.10110)."""

    max_ifd: float = 1.0
    """A kept pair must have IFD below this (the prompt helps the student produce the answer)."""
    max_rifd: float = 1.0
    """A kept pair must have reversed IFD below this (the answer helps infer the prompt)."""
    min_ifd_gain: float = 0.0
    """A refined prompt must raise IFD (with ``prompt_test="answer-nll"``: NLL(y | x), in
    nats/token) by more than this to count as an improvement."""
    min_rifd_drop: float = 0.0
    """A refined answer must lower r-IFD (with ``response_test="answer-nll"``: NLL(y | x), in
    nats/token) by more than this to count as an improvement."""
    keep_original: bool = True
    """Keep the original pair (if within reach) when its refinement is rejected."""
    max_unknown_share: float = 0.0
    """A kept pair may hold at most this share of tokens the student's tokenizer maps to its
    unknown token (text it cannot read is not within its reach)."""
    max_answer_nll: float | None = None
    """A kept pair's answer NLL given the prompt, nats per token, must be below this; None: the
    log of the student's vocabulary size (worse than a uniform guess = out of reach)."""
    prompt_test: PromptTest = PromptTest.AUTO
    """How a refined prompt is judged (see :class:`PromptTest`)."""
    response_test: ResponseTest = ResponseTest.AUTO
    """How a refined answer alone is judged (see :class:`ResponseTest`)."""
    distance: DistanceConfig = field(default_factory=DistanceConfig)
    """How IFD and r-IFD are computed (reverse must stay on)."""

    def __post_init__(self) -> None:
        for name in ("max_ifd", "max_rifd"):
            if not getattr(self, name) > 0:
                raise DataError(f"{name} must be > 0; got {getattr(self, name)}")
        for name in ("min_ifd_gain", "min_rifd_drop"):
            if getattr(self, name) < 0:
                raise DataError(f"{name} must be >= 0; got {getattr(self, name)}")
        if not self.distance.reverse:
            raise DataError("the refinement filter needs the reversed IFD: distance.reverse=True")
        if not 0.0 <= self.max_unknown_share <= 1.0:
            raise DataError(f"max_unknown_share must be in [0, 1]; got {self.max_unknown_share}")
        if self.max_answer_nll is not None and not self.max_answer_nll > 0:
            raise DataError(f"max_answer_nll must be > 0 or None; got {self.max_answer_nll}")
        object.__setattr__(self, "prompt_test",
                           parse_enum(PromptTest, self.prompt_test, "prompt_test"))
        object.__setattr__(self, "response_test",
                           parse_enum(ResponseTest, self.response_test, "response_test"))


def decide(orig: dict[str, np.ndarray], ref: dict[str, np.ndarray], prompt_changed: np.ndarray,
           answer_changed: np.ndarray, config: RefinementConfig,
           response_test: ResponseTest | None = None,
           prompt_test: PromptTest | None = None) -> tuple[list[str], list[str]]:
    """Apply the rule to arrays (N,) of the pairs' statistics; returns (decision, reason) per row.

    ``response_test`` and ``prompt_test``, when given, must be resolved (not ``auto``):
    :class:`RefinementFilter` resolves ``auto`` from what it knows of the student. None: the
    config's test, with ``auto`` read as the paper's (rifd, ifd: nothing is known of a student
    here)."""
    response_test = _resolved(response_test, config.response_test, ResponseTest.RIFD)
    prompt_test = _resolved(prompt_test, config.prompt_test, PromptTest.IFD)
    answer_by_nll = response_test is ResponseTest.ANSWER_NLL
    prompt_by_nll = prompt_test is PromptTest.ANSWER_NLL
    # each test compares one statistic of the refined pair with the original's
    harder = "nll_answer_given_prompt" if prompt_by_nll else "ifd"
    clearer, not_clearer = (("nll_answer_given_prompt", "answer_not_more_feasible") if answer_by_nll
                            else ("rifd", "answer_not_clearer"))
    decisions, reasons = [], []
    for i in range(len(prompt_changed)):
        why = []
        if prompt_changed[i]:  # instruction reflection: one test decides (arXiv 2402.10110)
            if not ref[harder][i] > orig[harder][i] + config.min_ifd_gain:
                why.append("prompt_not_harder")
        elif answer_changed[i]:  # response reflection
            if not ref[clearer][i] < orig[clearer][i] - config.min_rifd_drop:
                why.append(not_clearer)
        else:
            why.append("no_refinement")
        if not why:
            out = _reach(ref, i, config, "refined", prompt_by_nll, answer_by_nll)
            if out is None:
                decisions.append("refined")
                reasons.append("accepted")
                continue
            why.append(out)
        fallback = (_reach(orig, i, config, "original", prompt_by_nll, answer_by_nll)
                    if config.keep_original else "not_kept")
        decisions.append("original" if fallback is None else "dropped")
        reasons.append(";".join(why + ([fallback] if fallback else [])))
    return decisions, reasons


def _resolved(given: Any, configured: Any, paper: Any) -> Any:
    """The test ``decide`` applies: ``given`` (must not be auto), else the config's, with auto
    read as the paper's (nothing is known of the student there)."""
    if given is None:
        return _resolve_test(configured, paper, completion_only=False)
    if given.value == "auto":
        raise DataError("decide() needs resolved tests: prompt ifd or answer-nll, response "
                        "rifd or answer-nll")
    return given


def _resolve_test(test: Any, paper: Any, *, completion_only: bool) -> Any:
    """A :class:`PromptTest` or :class:`ResponseTest` with ``auto`` resolved: ``answer-nll``
    for a completion-only student, else the paper's test ``paper``."""
    if test.value != "auto":
        return test
    return type(test).ANSWER_NLL if completion_only else paper


def _reach(stats: dict[str, np.ndarray], i: int, config: RefinementConfig, which: str,
           skip_ifd: bool = False, skip_rifd: bool = False) -> str | None:
    """None if the pair is within reach, else the reason (NaN counts as out of reach)."""
    if "unknown_share" in stats and not stats["unknown_share"][i] <= config.max_unknown_share:
        return f"{which}_unknown_tokens"
    if "answer_nll_limit" in stats and not (stats["nll_answer_given_prompt"][i]
                                            < stats["answer_nll_limit"][i]):
        return f"{which}_answer_worse_than_chance"
    if not skip_ifd and not stats["ifd"][i] < config.max_ifd:
        return f"{which}_ifd_too_high"
    if not skip_rifd and not stats["rifd"][i] < config.max_rifd:
        return f"{which}_rifd_too_high"
    return None


GUARD_STATS: tuple[str, ...] = ("ifd", "rifd", "nll_answer_given_prompt", "unknown_share",
                                 "answer_nll_limit")
"""Per-pair statistics the rule reads; each decision record logs them for both pairs."""


class RefinementFilter:
    """Scores original and refined pairs under the student and applies :func:`decide`."""

    def __init__(self, student: Any, config: RefinementConfig | None = None, *,
                 completion_only: bool | None = None):
        """``completion_only``: whether the student was trained with loss on completions only
        (None: known for zpd lab checkpoints, else assumed not); it resolves ``auto``."""
        self.config = config or RefinementConfig()
        self.scorer = DistanceScorer(student, self.config.distance)
        if completion_only is None:
            from zpd.data.model_io import completion_only_note

            path = getattr(self.scorer.lm, "path", None)
            completion_only = bool(path) and completion_only_note(str(path)) is not None
        self.response_test: ResponseTest = _resolve_test(
            self.config.response_test, ResponseTest.RIFD, completion_only=completion_only)
        """The resolved response test (rifd or answer-nll)."""
        self.prompt_test: PromptTest = _resolve_test(
            self.config.prompt_test, PromptTest.IFD, completion_only=completion_only)
        """The resolved prompt test (ifd or answer-nll)."""

    def filter(self, prompts: Sequence[str], answers: Sequence[str],
               refined_prompts: Sequence[str | None], refined_answers: Sequence[str | None]
               ) -> dict[str, Any]:
        """Decisions and the four statistics per row; a ``None`` refinement means unchanged."""
        rp = [r if r is not None else p for r, p in zip(refined_prompts, prompts)]
        ra = [r if r is not None else a for r, a in zip(refined_answers, answers)]
        orig = self._guarded(prompts, answers)
        ref = self._guarded(rp, ra)
        p_changed = np.array([a != b for a, b in zip(rp, prompts)], dtype=bool)
        a_changed = np.array([a != b for a, b in zip(ra, answers)], dtype=bool)
        decisions, reasons = decide(orig, ref, p_changed, a_changed, self.config,
                                    self.response_test, self.prompt_test)
        out: dict[str, Any] = {"decision": decisions, "reason": reasons, "prompt": rp,
                               "answer": ra, "prompt_test": self.prompt_test.value,
                               "response_test": self.response_test.value}
        for key in GUARD_STATS:
            for which, stats in (("original", orig), ("refined", ref)):
                if key in stats:
                    out[f"{key}_{which}"] = stats[key]
        return out

    def _guarded(self, prompts: Sequence[str], answers: Sequence[str]) -> dict[str, np.ndarray]:
        """Distance statistics plus what the reach guards read (unknown-token share, the
        answer-NLL limit)."""
        stats = dict(self.scorer.score(prompts, answers))
        lm = self.scorer.lm
        unk = getattr(lm.tokenizer, "unk_token_id", None)
        n = len(prompts)
        if unk is not None and n:
            ids = lm.encode([p + a for p, a in zip(prompts, answers)])
            stats["unknown_share"] = np.array([sum(t == unk for t in x) / max(len(x), 1)
                                               for x in ids])
        limit = self.config.max_answer_nll
        if limit is None:
            limit = float(np.log(max(len(lm.tokenizer), 2)))
        stats["answer_nll_limit"] = np.full(n, limit)
        return stats


class _RefinementBatch:
    def __init__(self, filt: RefinementFilter):
        self.filt = filt

    def __call__(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        if not items:
            return []
        res = self.filt.filter([str(it.text["prompt"]) for it in items],
                               [str(it.text["answer"]) for it in items],
                               [it.text.get("refined_prompt") for it in items],
                               [it.text.get("refined_answer") for it in items])
        out = []
        for j in range(len(items)):
            rec: dict[str, Any] = {"decision": res["decision"][j], "reason": res["reason"][j],
                                   "prompt_test": res["prompt_test"],
                                   "response_test": res["response_test"]}
            for key in GUARD_STATS:
                for which in ("original", "refined"):
                    if f"{key}_{which}" in res:
                        rec[f"{key}_{which}"] = clean_float(res[f"{key}_{which}"][j])
            if rec["decision"] == "refined":
                rec["prompt"], rec["answer"] = res["prompt"][j], res["answer"][j]
            out.append(rec)
        return out


@dataclass(frozen=True)
class RefinementTask:
    """Picklable description of a refinement-filter job (see ``pipeline.Task``)."""

    model: str
    """Local Hugging Face model directory of the student."""
    config: RefinementConfig = field(default_factory=RefinementConfig)
    """Filter thresholds."""
    device: str = "auto"
    """Torch device."""
    dtype: str = "auto"
    """Weights dtype."""
    bos: str = "auto"
    """What goes before every sequence: auto (the tokenizer\'s own convention), always
    (force BOS, else EOS) or never (``zpd.data.model_io.BosMode``)."""

    def settings(self) -> dict[str, Any]:
        return {"command": "filter refinements", "model": str(Path(self.model).resolve()),
                "dtype": self.dtype, "bos": self.bos, "config": asdict(self.config)}

    def __call__(self) -> _RefinementBatch:
        from zpd.data.model_io import load_model

        lm = load_model(self.model, device=self.device, dtype=self.dtype,
                        bos=self.bos)
        return _RefinementBatch(RefinementFilter(lm, self.config))


@dataclass(frozen=True)
class RefinementFields:
    """Column names of an original/refined dataset."""

    prompt: str = "prompt"
    """The original prompt (instruction)."""
    answer: str = "answer"
    """The original answer (response)."""
    refined_prompt: str = "refined_prompt"
    """The teacher's refined prompt; missing or null = unchanged."""
    refined_answer: str = "refined_answer"
    """The teacher's refined answer; missing or null = unchanged."""
    id: str | None = None
    """Optional id column."""


def filter_refinements(
    data: str | os.PathLike[str],
    student: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fields: RefinementFields | None = None,
    config: RefinementConfig | None = None,
    run: RunConfig | None = None,
    device: str = "auto",
    dtype: str = "auto",
    bos: str = "auto",
    ray: RayConfig | None = None,
) -> dict[str, Any]:
    """API twin of ``zpd filter refinements``.

    Writes ``out`` (the kept rows: the original record with prompt/answer set to the chosen pair
    and ``zpd_source`` = refined | original), ``out.decisions.jsonl`` (every row's decision, reason
    and statistics; resumable) and ``out.report.json`` (counts by decision and reason). Returns the
    report.
    """
    from zpd.data.model_io import check_model_dir

    check_model_dir(student)
    f = fields or RefinementFields()
    run = run or RunConfig()
    spec = FieldSpec(required=(("prompt", f.prompt), ("answer", f.answer)),
                     optional=(("refined_prompt", f.refined_prompt),
                               ("refined_answer", f.refined_answer)), id=f.id)
    task = RefinementTask(model=str(student), config=config or RefinementConfig(), device=device,
                          dtype=dtype, bos=bos)
    out_path = Path(out)
    decisions = out_path.with_name(out_path.name + ".decisions.jsonl")
    summary = run_file(data, spec, decisions, task, run, executor=executor_for(ray),
                       desc="refinements")
    counts = _join(data, spec, decisions, out_path, f, run)
    report = {"rows": summary.rows, "skipped_rows": summary.skipped, **counts,
              "config": asdict(task.config), "decisions_file": str(decisions),
              "kept_file": str(out_path)}
    atomic_write_json(out_path.with_name(out_path.name + ".report.json"), report)
    return report


def _join(data: str | os.PathLike[str], spec: FieldSpec, decisions: Path, out: Path,
          f: RefinementFields, run: RunConfig) -> dict[str, Any]:
    """Stream the input and the decision log side by side (both in row order) into ``out``."""
    by_decision: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    prompt_tests: set[str] = set()
    response_tests: set[str] = set()
    log = read_results(decisions, include_skipped=True)
    with atomic_open(out) as fh:
        for it in iter_items(data, spec, on_error=run.on_error, split=run.split):
            rec = next(log)
            if int(rec["row"]) != it.row:
                raise DataError(f"{decisions} is out of step with {data} at row {it.row}; rerun "
                                "with overwrite=True / --overwrite")
            if isinstance(it, Skipped):
                continue
            by_decision[rec["decision"]] += 1
            prompt_tests.add(rec["prompt_test"])
            response_tests.add(rec["response_test"])
            for reason in rec["reason"].split(";"):
                by_reason[reason] += 1
            if rec["decision"] == "dropped":
                continue
            row = dict(it.raw)
            if rec["decision"] == "refined":
                row[f.prompt], row[f.answer] = rec["prompt"], rec["answer"]
            row["zpd_source"] = rec["decision"]
            fh.write(dumps(row))
    return {"decisions": dict(by_decision), "reasons": dict(by_reason),
            "kept": by_decision["refined"] + by_decision["original"],
            "prompt_test_used": sorted(prompt_tests),
            "response_test_used": sorted(response_tests)}
