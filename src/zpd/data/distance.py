"""Distance from pre-training: NLL / perplexity of prompts and answers under a base model, IFD.

What it is: :class:`DistanceScorer` turns (prompt, answer) pairs into per-item statistics under a
base model (two forward passes per item, batched and length-sorted by ``tokenstats``):

* ``nll_prompt`` / ``ppl_prompt``: mean token NLL of the prompt and its perplexity (how far the
  prompt sits from what the model saw);
* ``nll_answer`` / ``ppl_answer``: the answer alone, PPL(y);
* ``nll_answer_given_prompt`` / ``ppl_answer_given_prompt``: PPL(y | x);
* ``ifd`` = PPL(y | x) / PPL(y), the Instruction-Following Difficulty of Li et al.,
  "From Quantity to Quality" (arXiv 2308.12032): near or above 1, the prompt does not help the
  model produce the answer;
* ``rifd`` = PPL(x | y) / PPL(x), the reversed IFD of Selective Reflection-Tuning (arXiv
  2402.10110): near or above 1, the answer does not let the model infer the prompt.

Every sequence starts with what the model's own tokenizer puts in front of a text (its BOS if it
adds one; nothing for the lab's tokenizer or GPT-2's), never a token the model did not see in
training; the first token of a sequence without such a prefix has no probability and is not
counted (a one-token text then has no unconditional NLL: NaN, null in the results). ``bos``
(``--bos``) overrides the convention. What it is not: a filter (see ``refinements``) or a file runner (see ``pipeline``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zpd.data.errors import DataError
from zpd.data.io import FieldSpec, Item, rows_from_columns
from zpd.data.model_io import LoadedModel, load_model, model_context
from zpd.data.pipeline import RunConfig, RunSummary, run_file
from zpd.data.ray_backend import RayConfig, executor_for
from zpd.data.tokenstats import segment_stats

DISTANCE_COLUMNS = (
    "n_prompt_tokens", "n_answer_tokens",
    "nll_prompt", "ppl_prompt", "nll_answer", "ppl_answer",
    "nll_answer_given_prompt", "ppl_answer_given_prompt", "ifd",
    "nll_prompt_given_answer", "ppl_prompt_given_answer", "rifd", "truncated",
)


@dataclass(frozen=True)
class DistanceConfig:
    """Settings of :class:`DistanceScorer`."""

    batch_tokens: int | None = None
    """Padded tokens per forward pass; ``None`` sizes it so the logits fit in ~256 MiB."""
    max_length: int | None = None
    """Cut longer sequences at the end (flagged ``truncated``); ``None``: the model's maximum."""
    reverse: bool = True
    """Also compute PPL(x | y) and the reversed IFD (a second forward pass per item)."""
    reverse_template: str = "{answer}"
    """Text read before the prompt for PPL(x | y); must contain ``{answer}`` exactly once.
    The default puts the bare answer first; 2402.10110 used an instruction-guessing prompt."""

    def __post_init__(self) -> None:
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise DataError(f"batch_tokens must be >= 1 or None; got {self.batch_tokens}")
        if self.max_length is not None and self.max_length < 2:
            raise DataError(f"max_length must be >= 2 or None; got {self.max_length}")
        if self.reverse_template.count("{answer}") != 1:
            raise DataError("reverse_template must contain '{answer}' exactly once; got "
                            f"{self.reverse_template!r}")


class DistanceScorer:
    """Score (prompt, answer) pairs under a base model; ``score`` returns arrays aligned to input.

    Example::

        lm = load_model("base_dir")
        out = DistanceScorer(lm).score(["12+3="], ["15"])
        out["ifd"]  # (1,)
    """

    def __init__(self, lm: LoadedModel, config: DistanceConfig | None = None):
        self.lm = lm
        self.config = config or DistanceConfig()
        self.tokens_fed_ = 0  # non-pad tokens through the model so far (throughput accounting)

    def _pieces(self, answers: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
        pre, post = self.config.reverse_template.split("{answer}")
        n = len(answers)
        pre_ids = self.lm.encode([pre])[0] if pre else []
        post_ids = self.lm.encode([post])[0] if post else []
        return [pre_ids] * n, [post_ids] * n

    def score(self, prompts: Sequence[str], answers: Sequence[str]) -> dict[str, np.ndarray]:
        """Per-item distance statistics, each an array of shape (N,)."""
        if len(prompts) != len(answers):
            raise DataError(f"got {len(prompts)} prompts but {len(answers)} answers")
        cfg = self.config
        x_ids = self.lm.encode(list(prompts))
        y_ids = self.lm.encode(list(answers))
        kw = {"batch_tokens": cfg.batch_tokens, "max_length": cfg.max_length}
        fwd = segment_stats(self.lm, [[x, y] for x, y in zip(x_ids, y_ids)], **kw)
        nll_fwd = fwd.mean("nll")  # (N, 2): prompt | ctx, answer | prompt
        self.tokens_fed_ += fwd.tokens
        n = len(prompts)
        nan = np.full(n, np.nan)
        nll_y, nll_x_given_y = nan, nan
        truncated = fwd.truncated
        if cfg.reverse:
            pre, post = self._pieces(answers)
            if cfg.reverse_template == "{answer}":
                rev = segment_stats(self.lm, [[y, x] for x, y in zip(x_ids, y_ids)], **kw)
                nll_rev = rev.mean("nll")  # (N, 2): answer alone, prompt | answer
                nll_y, nll_x_given_y = nll_rev[:, 0], nll_rev[:, 1]
            else:
                alone = segment_stats(self.lm, [[y] for y in y_ids], **kw)
                segs = [[p, y, q, x] for p, y, q, x in zip(pre, y_ids, post, x_ids)]
                rev = segment_stats(self.lm, segs, **kw)
                nll_y, nll_x_given_y = alone.mean("nll")[:, 0], rev.mean("nll")[:, 3]
                self.tokens_fed_ += alone.tokens
                truncated = truncated | alone.truncated
            self.tokens_fed_ += rev.tokens
            truncated = truncated | rev.truncated
        return _assemble(fwd.count, nll_fwd, nll_y, nll_x_given_y, truncated)


def _assemble(count: np.ndarray, nll_fwd: np.ndarray, nll_y: np.ndarray, nll_x_given_y: np.ndarray,
              truncated: np.ndarray) -> dict[str, np.ndarray]:
    nll_x, nll_y_given_x = nll_fwd[:, 0], nll_fwd[:, 1]
    with np.errstate(over="ignore", invalid="ignore"):
        out = {
            "n_prompt_tokens": count[:, 0].astype(np.int64),
            "n_answer_tokens": count[:, 1].astype(np.int64),
            "nll_prompt": nll_x, "ppl_prompt": np.exp(nll_x),
            "nll_answer": nll_y, "ppl_answer": np.exp(nll_y),
            "nll_answer_given_prompt": nll_y_given_x,
            "ppl_answer_given_prompt": np.exp(nll_y_given_x),
            # ratios of perplexities = exp of NLL differences (stable for long texts)
            "ifd": np.exp(nll_y_given_x - nll_y),
            "nll_prompt_given_answer": nll_x_given_y,
            "ppl_prompt_given_answer": np.exp(nll_x_given_y),
            "rifd": np.exp(nll_x_given_y - nll_x),
            "truncated": truncated.astype(bool),
        }
    return out


class _DistanceBatch:
    def __init__(self, scorer: DistanceScorer):
        self.scorer = scorer

    def __call__(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        if not items:
            return []
        prompts = [str(it.text["prompt"]) for it in items]
        answers = [str(it.text["answer"]) for it in items]
        return rows_from_columns(self.scorer.score(prompts, answers), len(items))


@dataclass(frozen=True)
class DistanceTask:
    """Picklable description of a distance-scoring job (see ``pipeline.Task``)."""

    model: str
    """Local Hugging Face model directory of the base model."""
    config: DistanceConfig = DistanceConfig()
    """Scoring settings."""
    device: str = "auto"
    """Torch device (``auto``: CUDA, then MPS, then CPU)."""
    dtype: str = "auto"
    """Weights dtype: auto, float32, float16 or bfloat16."""
    bos: str = "auto"
    """What goes before every sequence: auto (the tokenizer\'s own convention), always
    (force BOS, else EOS) or never (``zpd.data.model_io.BosMode``)."""

    def settings(self) -> dict[str, Any]:
        return {"command": "score distance", "model": str(Path(self.model).resolve()),
                "dtype": self.dtype, "bos": self.bos, "config": asdict(self.config)}

    def __call__(self) -> _DistanceBatch:
        lm = load_model(self.model, device=self.device, dtype=self.dtype,
                        bos=self.bos)
        return _DistanceBatch(DistanceScorer(lm, self.config))


def score_distance(
    data: str | os.PathLike[str],
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    prompt_field: str = "prompt",
    answer_field: str = "answer",
    id_field: str | None = None,
    category_field: str | None = None,
    config: DistanceConfig | None = None,
    run: RunConfig | None = None,
    device: str = "auto",
    dtype: str = "auto",
    bos: str = "auto",
    ray: RayConfig | None = None,
) -> RunSummary:
    """API twin of ``zpd score distance``: per-item NLL/PPL, IFD and reversed IFD into ``out``."""
    context = model_context(model)
    cfg = config or DistanceConfig()
    if context is not None and cfg.max_length is not None and cfg.max_length > context:
        raise DataError(f"max_length={cfg.max_length} is above the model's {context} positions "
                        f"({model}); lower it or leave it unset (default: the model's)")
    spec = FieldSpec(required=(("prompt", prompt_field), ("answer", answer_field)),
                     id=id_field, category=category_field)
    task = DistanceTask(model=str(model), config=cfg, device=device,
                        dtype=dtype, bos=bos)
    return run_file(data, spec, out, task, run, executor=executor_for(ray), desc="distance")
