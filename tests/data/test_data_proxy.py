"""Proxy tuning (arXiv 2401.08565): the logits processor against a cache-free computation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessorList

from zpd.data.errors import DataError
from zpd.data.model_io import load_model
from zpd.data.proxy import ProxyTuningLogitsProcessor, proxy_generate


class _Recorder:
    """Records (input_ids, processed scores) at every step, after the proxy processor."""

    def __init__(self) -> None:
        self.steps: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.steps.append((input_ids.clone(), scores.clone()))
        return scores


def _next_logprobs(model, ids: torch.Tensor, pad: int) -> torch.Tensor:
    """Full forward, no cache, left padding handled by mask and positions."""
    mask = ((ids != pad).long().cumsum(1) > 0).long()
    pos = (mask.cumsum(1) - 1).clamp_min(0)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1]
    return torch.log_softmax(logits.float(), dim=-1)


def test_processor_adds_alpha_times_expert_minus_anti_expert(tiny_model: Path,
                                                             tiny_model_b: Path) -> None:
    base = load_model(tiny_model, device="cpu")
    expert = load_model(tiny_model_b, device="cpu")
    anti = load_model(tiny_model, device="cpu")
    pad = base.tokenizer.pad_token_id
    prompts = ["12+3=", "7+8+9+1="]  # ragged: the first row is left-padded
    enc = base.tokenizer(prompts, add_special_tokens=False)["input_ids"]
    width = max(map(len, enc))
    ids = torch.tensor([[pad] * (width - len(x)) + x for x in enc])
    mask = (ids != pad).long()
    proc = ProxyTuningLogitsProcessor(expert.model, anti.model, alpha=0.7, pad_token_id=pad)
    rec = _Recorder()
    with torch.no_grad():
        base.model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                            max_new_tokens=5, pad_token_id=pad, eos_token_id=None,
                            logits_processor=LogitsProcessorList([proc, rec]))
    assert len(rec.steps) == 5
    for seq, scores in rec.steps:  # the cached processor equals a cache-free computation
        base_logits = _next_logprobs(base.model, seq, pad)  # only a per-row constant away
        delta = _next_logprobs(expert.model, seq, pad) - _next_logprobs(anti.model, seq, pad)
        want = torch.log_softmax(base_logits + 0.7 * delta, dim=-1)
        torch.testing.assert_close(torch.log_softmax(scores, dim=-1), want, atol=2e-4, rtol=1e-4)


def test_identical_experts_or_alpha_zero_leave_the_base_unchanged(tiny_model: Path,
                                                                 tiny_model_b: Path) -> None:
    base = load_model(tiny_model, device="cpu")
    other = load_model(tiny_model_b, device="cpu")
    prompts = ["1+1=", "23+45=", "9="]
    plain = proxy_generate(base, other, other, prompts, alpha=0.0, max_new_tokens=6)
    same = proxy_generate(base, other, other, prompts, alpha=2.0, max_new_tokens=6)
    steered = proxy_generate(base, other, base, prompts, alpha=1.0, max_new_tokens=6)
    expert_alone = proxy_generate(other, other, other, prompts, alpha=0.0, max_new_tokens=6)
    assert plain == same
    # base + (other - base) = other: steering fully towards the expert reproduces it
    assert steered == expert_alone
    with pytest.raises(DataError, match="alpha"):
        ProxyTuningLogitsProcessor(other.model, other.model, alpha=float("nan"))
