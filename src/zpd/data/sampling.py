"""Sampling backends: k completions per prompt from a local causal LM.

What it is: a :class:`Sampler` protocol with two implementations — :class:`HFSampler`
(``transformers`` ``generate`` on CPU or GPU, left-padded batches, the default) and
:class:`VLLMSampler` (vLLM, imported only when chosen; it needs a CUDA machine with ``vllm``
installed and is not exercised by the test suite, which runs on CPU). Both cut each completion at
the first stop string. What it is not: verification or pass-rate statistics (``difficulty``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from zpd.data.errors import DataError


class Backend(str, Enum):
    """Which library generates the samples."""

    TRANSFORMERS = "transformers"
    VLLM = "vllm"


@dataclass(frozen=True)
class SamplingConfig:
    """How completions are sampled."""

    k: int = 8
    """Completions per prompt."""
    temperature: float = 1.0
    """Sampling temperature; 0 means greedy (then all k completions are the same)."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]."""
    max_new_tokens: int = 32
    """Longest completion, in tokens."""
    stop: tuple[str, ...] = ()
    """Cut a completion at the first of these strings (the EOS token always ends it)."""
    batch_prompts: int = 32
    """Prompts per ``generate`` call (each with k samples)."""
    seed: int = 0
    """Seed; each batch reseeds from (seed, first row) so reruns and resumes repeat draws."""

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        checks = [(self.k >= 1, "k must be >= 1"),
                  (self.temperature >= 0, "temperature must be >= 0"),
                  (0 < self.top_p <= 1, "top_p must be in (0, 1]"),
                  (self.max_new_tokens >= 1, "max_new_tokens must be >= 1"),
                  (self.batch_prompts >= 1, "batch_prompts must be >= 1"),
                  (all(isinstance(s, str) and s for s in self.stop),
                   "stop strings must be non-empty")]
        for ok, msg in checks:
            if not ok:
                raise DataError(f"{msg}; got {self}")


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to (not including) the earliest stop string."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if 0 <= i < cut:
            cut = i
    return text[:cut]


class Sampler(Protocol):
    """Returns ``n`` completions per prompt: a list of P lists of n strings."""

    def sample(self, prompts: Sequence[str], seed: int) -> list[list[str]]: ...


class HFSampler:
    """``transformers`` generate with left padding; completions decoded without special tokens."""

    def __init__(self, lm: Any, config: SamplingConfig,
                 logits_processors: Sequence[Any] | None = None):
        self.lm = lm
        self.config = config
        self.logits_processors = list(logits_processors or [])

    def sample(self, prompts: Sequence[str], seed: int) -> list[list[str]]:
        import torch

        cfg = self.config
        out: list[list[str]] = []
        for start in range(0, len(prompts), cfg.batch_prompts):
            chunk = list(prompts[start : start + cfg.batch_prompts])
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + start)
                texts = self._generate(chunk)
            for i in range(len(chunk)):
                out.append([cut_at_stop(t, cfg.stop) for t in texts[i * cfg.k : (i + 1) * cfg.k]])
        return out

    def _generate(self, prompts: list[str]) -> list[str]:
        import torch

        cfg, tok, model = self.config, self.lm.tokenizer, self.lm.model
        prefix = self.lm.prefix_ids  # the tokenizer's convention (the lab's: none)
        ids = [prefix + x for x in self.lm.encode(prompts)]
        width = max(len(x) for x in ids)
        if width + cfg.max_new_tokens > self.lm.max_length:
            raise DataError(f"a prompt of {width} tokens + max_new_tokens={cfg.max_new_tokens} "
                            f"exceeds the model's {self.lm.max_length} positions; lower "
                            "max_new_tokens or shorten the prompts")
        pad = tok.pad_token_id
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)  # (P, T) left-padded
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):
            input_ids[i, width - len(x) :] = torch.tensor(x, dtype=torch.long)
            mask[i, width - len(x) :] = 1
        greedy = cfg.temperature == 0
        kwargs: dict[str, Any] = {"do_sample": not greedy, "max_new_tokens": cfg.max_new_tokens,
                                  "num_return_sequences": 1 if greedy else cfg.k,
                                  "pad_token_id": pad,
                                  "eos_token_id": tok.eos_token_id}
        if not greedy:
            kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p, top_k=0)
        if self.logits_processors:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList(self.logits_processors)
        with torch.inference_mode():
            gen = model.generate(input_ids=input_ids.to(self.lm.device),
                                 attention_mask=mask.to(self.lm.device), **kwargs)
        new = gen[:, width:].cpu()  # (P * k, new tokens), grouped by prompt
        texts = tok.batch_decode(new, skip_special_tokens=True)
        if greedy:  # one deterministic completion, repeated k times
            texts = [t for t in texts for _ in range(cfg.k)]
        return texts


class VLLMSampler:
    """vLLM backend (CUDA machines with ``pip install vllm``); imported only when used."""

    def __init__(self, model_path: str, config: SamplingConfig, **llm_kwargs: Any):
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise DataError("the vllm backend needs `pip install vllm` on a CUDA machine; "
                            "use backend='transformers' (--backend transformers) otherwise") from None
        self.config = config
        self._params_cls = SamplingParams
        self.llm = LLM(model=model_path, seed=config.seed, **llm_kwargs)

    def sample(self, prompts: Sequence[str], seed: int) -> list[list[str]]:
        cfg = self.config
        params = self._params_cls(n=cfg.k, temperature=cfg.temperature, top_p=cfg.top_p,
                                  max_tokens=cfg.max_new_tokens, stop=list(cfg.stop) or None,
                                  seed=seed)
        results = self.llm.generate(list(prompts), params, use_tqdm=False)
        return [[cut_at_stop(o.text, cfg.stop) for o in r.outputs] for r in results]
