"""Decoding-time proxy tuning: steer a base model with a small tuned expert and its untuned twin.

What it is: proxy tuning of Liu et al., "Tuning Language Models by Proxy" (arXiv 2401.08565): at
every step the next-token logits are ``base + alpha * (expert - anti_expert)``, where the expert is
a small model after tuning and the anti-expert the same small model before it; the base model's
knowledge is kept while the small models' *difference* carries the tuning.
:class:`ProxyTuningLogitsProcessor` is a ``transformers.LogitsProcessor`` (pass it to
``base.generate(logits_processor=[...])``; it runs the two small models with their own KV caches);
:func:`proxy_generate` is the helper behind ``zpd proxy``. The small models' log-probabilities are
used (a per-row constant away from their logits, so the sampled distribution is the paper's).
All three models must share one tokenizer vocabulary. What it is not: a trainer.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor

from zpd.data.errors import DataError
from zpd.data.sampling import cut_at_stop


class _Follower:
    """Runs one small model over the growing sequences, reusing its KV cache between steps."""

    def __init__(self, model: Any, pad_token_id: int | None):
        self.model = model
        self.pad = pad_token_id
        self.seen: torch.Tensor | None = None
        self.past: Any = None
        # transformers >= 5.2x names the KV cache `cache`; older releases `past_key_values`
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    def _mask(self, ids: torch.Tensor) -> torch.Tensor:
        # left padding: everything before a row's first real token is padding
        if self.pad is None:
            return torch.ones_like(ids)
        return ((ids != self.pad).long().cumsum(dim=1) > 0).long()

    @torch.inference_mode()
    def next_logprobs(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, V) log-probabilities of the next token after ``ids`` (B, T)."""
        ids = ids.to(self.model.device)
        mask = self._mask(ids)
        pos = (mask.cumsum(dim=1) - 1).clamp_min(0)  # (B, T) positions count real tokens only
        same = (self.seen is not None and self.past is not None
                and ids.shape[0] == self.seen.shape[0] and ids.shape[1] == self.seen.shape[1] + 1
                and torch.equal(ids[:, :-1], self.seen))
        if same:
            out = self.model(input_ids=ids[:, -1:], attention_mask=mask, position_ids=pos[:, -1:],
                             use_cache=True, **{self._cache_arg: self.past})
        else:
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        self.past = getattr(out, self._cache_arg, None)
        self.seen = ids
        return torch.log_softmax(out.logits[:, -1].float(), dim=-1)


class ProxyTuningLogitsProcessor(LogitsProcessor):
    """``scores + alpha * (log p_expert - log p_anti_expert)`` (arXiv 2401.08565).

    Args:
        expert: the tuned small causal LM.
        anti_expert: the same small LM before tuning.
        alpha: strength of the steer (1.0 in the paper; 0 = the base model unchanged).
        pad_token_id: id used for left padding (rows' leading pads are masked for the small models).
    """

    def __init__(self, expert: Any, anti_expert: Any, alpha: float = 1.0,
                 pad_token_id: int | None = None):
        if not isinstance(alpha, (int, float)) or alpha != alpha:
            raise DataError(f"alpha must be a number; got {alpha!r}")
        self.alpha = float(alpha)
        self._expert = _Follower(expert, pad_token_id)
        self._anti = _Follower(anti_expert, pad_token_id)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.alpha == 0.0:
            return scores
        delta = self._expert.next_logprobs(input_ids) - self._anti.next_logprobs(input_ids)
        vocab = scores.shape[-1]
        if delta.shape[-1] < vocab:
            raise DataError(f"the expert models have {delta.shape[-1]} logits but the base has "
                            f"{vocab}; all three must share one vocabulary")
        delta = delta[:, :vocab].to(scores.device, scores.dtype)  # (B, V)
        return scores + self.alpha * delta  # type: ignore[return-value]


def check_same_vocab(*tokenizers: Any) -> None:
    """Raise unless every tokenizer maps the same strings to the same ids."""
    first = tokenizers[0].get_vocab()
    for tok in tokenizers[1:]:
        if tok.get_vocab() != first:
            raise DataError("proxy tuning needs base, expert and anti-expert to share one "
                            "tokenizer vocabulary; these differ")


def proxy_generate(base: Any, expert: Any, anti_expert: Any, prompts: Sequence[str], *,
                   alpha: float = 1.0, max_new_tokens: int = 64, temperature: float = 0.0,
                   top_p: float = 1.0, stop: Sequence[str] = (), seed: int = 0,
                   batch_size: int = 16) -> list[str]:
    """Generate from ``base`` steered by ``expert - anti_expert`` (``LoadedModel`` s); greedy at 0."""
    from zpd.data.sampling import HFSampler, SamplingConfig

    check_same_vocab(base.tokenizer, expert.tokenizer, anti_expert.tokenizer)
    cfg = SamplingConfig(k=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                         stop=tuple(stop), batch_prompts=batch_size, seed=seed)
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        proc = ProxyTuningLogitsProcessor(expert.model, anti_expert.model, alpha,
                                          pad_token_id=base.tokenizer.pad_token_id)
        sampler = HFSampler(base, cfg, logits_processors=[proc])
        chunk = list(prompts[start : start + batch_size])
        out.extend(c[0] for c in sampler.sample(chunk, seed + start))
    return [cut_at_stop(t, stop) for t in out]


class _ProxyBatch:
    def __init__(self, base: Any, expert: Any, anti: Any, task: ProxyTask):
        self.models, self.task = (base, expert, anti), task

    def __call__(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        if not items:
            return []
        t = self.task
        prompts = [str(it.text["prompt"]) for it in items]
        texts = proxy_generate(*self.models, prompts, alpha=t.alpha,
                               max_new_tokens=t.max_new_tokens, temperature=t.temperature,
                               top_p=t.top_p, stop=t.stop, seed=t.seed + int(items[0].row),
                               batch_size=len(items))
        return [{"prompt": x, "generation": g} for x, g in zip(prompts, texts)]


@dataclass(frozen=True)
class ProxyTask:
    """Picklable description of a proxy-tuning generation job (see ``pipeline.Task``): the file
    runner gives it progress, resume, ``--split``, streaming and Ray like every scorer. A batch's
    seed is ``seed`` + its first row, so a resumed run generates what a clean one would."""

    base: str
    expert: str
    anti_expert: str
    alpha: float = 1.0
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    bos: str = "auto"

    def settings(self) -> dict[str, Any]:
        return {"command": "proxy", **{k: str(Path(getattr(self, k)).resolve())
                                       for k in ("base", "expert", "anti_expert")},
                "alpha": self.alpha, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "top_p": self.top_p, "stop": list(self.stop),
                "seed": self.seed, "dtype": self.dtype, "bos": self.bos}

    def __call__(self) -> _ProxyBatch:
        from zpd.data.model_io import load_model

        base, expert, anti = (load_model(p, device=self.device, dtype=self.dtype, bos=self.bos)
                              for p in (self.base, self.expert, self.anti_expert))
        return _ProxyBatch(base, expert, anti, self)
