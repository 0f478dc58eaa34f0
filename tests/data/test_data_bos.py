"""Every scorer follows the model's own tokenizer convention: no token the model never saw in
training goes in front of a sequence (the lab's tokenizer adds none; a Llama-style one adds BOS),
and ``bos`` overrides it explicitly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datahelpers import make_model

from zpd.data.distance import DistanceConfig, DistanceScorer
from zpd.data.errors import DataError
from zpd.data.model_io import BosMode, load_model, tokenizer_prefix
from zpd.data.sampling import HFSampler, SamplingConfig
from zpd.data.selection import EL2NScorer, ForgettingScorer


def _lab_model() -> Path:
    from zpd.lab.experiments import demo_config
    from zpd.lab.pretrain import SHIPPED

    return SHIPPED / demo_config().pretrain.fingerprint() / "final"


def _record(lm) -> list[torch.Tensor]:
    """Every whole-sequence input_ids batch the model is called with (scoring, or a generate's
    first pass; its one-token cached steps are left out), with its attention mask if given."""
    seen: list[torch.Tensor] = []

    def hook(module, args, kwargs):  # type: ignore[no-untyped-def]
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        if mask is None or mask.shape[1] == ids.shape[1]:
            seen.append((ids.detach().clone(), None if mask is None else mask.detach().clone()))

    lm.model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def _first_tokens(seen) -> list[int]:  # type: ignore[no-untyped-def]
    """The first real token of every row of every recorded batch (left padding skipped)."""
    out = []
    for ids, mask in seen:
        for r in range(ids.shape[0]):
            start = int(mask[r].argmax()) if mask is not None else 0
            out.append(int(ids[r, start]))
    return out


def _run_every_scorer(lm, prompts: list[str], answers: list[str]) -> None:
    DistanceScorer(lm, DistanceConfig()).score(prompts, answers)
    EL2NScorer([lm]).score(prompts, answers)
    ForgettingScorer([lm, lm]).score(prompts, answers)
    HFSampler(lm, SamplingConfig(k=2, max_new_tokens=4, temperature=1.0)).sample(prompts, seed=0)


def test_lab_model_gets_nothing_in_front_and_its_answers_read_as_learned() -> None:
    lab = _lab_model()
    lm = load_model(lab, device="cpu")
    bos = lm.tokenizer.bos_token_id
    assert lm.prefix_ids == [] and tokenizer_prefix(lm.tokenizer) == []
    prompts = ["R>48213d=", "R>907615d=", "R>55d="]
    answers = ["d31284$", "d516709$", "d55$"]
    seen = _record(lm)
    _run_every_scorer(lm, prompts, answers)
    assert seen and bos not in _first_tokens(seen)  # not one sequence starts with BOS
    auto = DistanceScorer(lm, DistanceConfig()).score(prompts, answers)["nll_answer_given_prompt"]
    forced = load_model(lab, device="cpu", bos="always")
    assert forced.prefix_ids == [bos]
    bad = DistanceScorer(forced, DistanceConfig()).score(prompts, answers)[
        "nll_answer_given_prompt"]
    assert np.all(auto < 0.5)  # what the base learned (3-6-digit reversals it mostly gets right)
    # a token it never saw in front misreads it (measured: 2.2 and 2.1 nats/token against
    # 0.13 and 0.17 on the longer two)
    assert bad.mean() > 5 * auto.mean() and np.all(bad >= auto - 0.05)


def test_a_tokenizer_that_adds_bos_gets_it_once_and_overrides_work(tmp_path: Path) -> None:
    from tokenizers import processors
    from transformers import AutoTokenizer

    path = make_model(tmp_path / "m", seed=0)
    tok = AutoTokenizer.from_pretrained(str(path))
    tok.add_special_tokens({"bos_token": "<bos>"})
    bos = tok.bos_token_id
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", bos)])
    tok.save_pretrained(path)
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(str(path))
    model.resize_token_embeddings(len(tok))
    model.save_pretrained(path)
    lm = load_model(path, device="cpu")
    assert lm.prefix_ids == [bos]
    seen = _record(lm)
    _run_every_scorer(lm, ["1+2=", "30+4="], ["3", "34"])
    firsts = _first_tokens(seen)
    assert firsts and set(firsts) == {bos}  # the convention, every time
    assert all(int((ids[r] == bos).sum()) == 1 for ids, _ in seen for r in range(ids.shape[0]))
    assert load_model(path, device="cpu", bos="never").prefix_ids == []
    assert load_model(path, device="cpu", bos=BosMode.ALWAYS).prefix_ids == [bos]
    with pytest.raises(DataError, match="bos must be one of"):
        load_model(path, device="cpu", bos="sometimes")
