"""Tiny GPT: shapes, KV-cache generation vs full recompute, ragged batches, log-probs, and the
Hugging Face round trip (AutoModelForCausalLM greedy == the lab's generator)."""

from __future__ import annotations

import pytest
import torch

from zpd.lab.model import (
    GPT,
    PRESETS,
    GPTConfig,
    ModelError,
    generate,
    left_pad,
    load_pretrained,
    save_pretrained,
    sequence_logprobs,
)
from zpd.lab.tasks import Fmt, Op, TaskConfig, make_items
from zpd.lab.tokenizer import CharTokenizer

TOK = CharTokenizer()


def _model(seed: int = 0, scale: float = 15.0) -> GPT:
    """A tiny random GPT with sharpened weights, so greedy outputs vary across prompts."""
    torch.manual_seed(seed)
    m = GPT(GPTConfig.preset("tiny"))
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(scale)
    return m.eval()


def _prompts(n: int = 6, seed: int = 0) -> list[list[int]]:
    cfg = TaskConfig(ops=tuple(Op), formats=tuple(Fmt), digits=(1, 6), n_items=n)
    return [TOK.encode(it.prompt) for it in make_items(cfg, seed)]


def _greedy_no_cache(m: GPT, prompt: list[int], n: int) -> list[int]:
    idx = torch.tensor([prompt])
    out: list[int] = []
    for _ in range(n):
        logits, _ = m(idx)
        nxt = int(logits[0, -1].argmax())
        out.append(nxt)
        if nxt == TOK.eos_id:
            break
        idx = torch.cat([idx, torch.tensor([[nxt]])], 1)
    return out


def test_presets_sizes_and_config_validation() -> None:
    sizes = {name: GPT(GPTConfig.preset(name)).num_params() for name in PRESETS}
    assert 80_000 <= sizes["tiny"] <= 150_000
    assert 500_000 <= sizes["small"] <= 700_000
    assert 2_000_000 <= sizes["base"] <= 3_000_000
    with pytest.raises(ModelError, match="divide"):
        GPTConfig(n_embd=100, n_head=3)
    with pytest.raises(ModelError, match="preset"):
        GPTConfig.preset("huge")


def test_forward_shapes_and_ignored_targets() -> None:
    m = _model()
    idx = torch.tensor([TOK.encode("A12+34d=d46$")])
    targets = idx.clone()
    targets[0, :5] = -1
    logits, loss = m(idx, targets)
    assert logits.shape == (1, idx.shape[1], TOK.vocab_size)
    assert loss is not None and torch.isfinite(loss)
    manual = torch.nn.functional.cross_entropy(logits[0, 5:], idx[0, 5:])
    assert torch.allclose(loss, manual)


def test_kv_cache_greedy_equals_full_recompute_and_ragged_rows_independent() -> None:
    m = _model()
    prompts = _prompts(6)
    ids, logp, lengths = generate(m, prompts, 10, greedy=True)
    assert ids.shape[0] == 6 and ids.shape[1] <= 10
    for i, p in enumerate(prompts):
        ref = _greedy_no_cache(m, p, 10)
        row = ids[i, : int(lengths[i])].tolist()
        assert row == ref
        alone, _, _ = generate(m, [p], 10, greedy=True)
        assert alone[0, : len(ref)].tolist() == ref
        assert (ids[i, int(lengths[i]) :] == TOK.pad_id).all()
        assert (logp[i, int(lengths[i]) :] == 0).all()


def test_sampling_is_seeded_and_logprobs_match_recomputation() -> None:
    m = _model(1, scale=5.0)
    prompts = _prompts(8, seed=1)
    a = generate(m, prompts, 12, temperature=0.7, generator=torch.Generator().manual_seed(3))
    b = generate(m, prompts, 12, temperature=0.7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
    ids, logp, lengths = a
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]  # (B, T)
    p_ids, _ = left_pad(prompts, TOK.pad_id)
    re = sequence_logprobs(m, p_ids, ids, mask, temperature=0.7)
    assert torch.allclose(re, logp, atol=1e-5)
    assert (logp[mask] < 0).all()


def test_eos_stops_rows_and_lengths_count_eos() -> None:
    m = _model()
    with torch.no_grad():  # make eos the only likely token: every row stops at once
        m.transformer["ln_f"].weight.zero_()
        m.transformer["ln_f"].bias.zero_()
        m.transformer["wte"].weight[TOK.eos_id] = 0.0
        m.transformer["ln_f"].bias[0] = 1.0
        m.transformer["wte"].weight[:, 0] = -1.0
        m.transformer["wte"].weight[TOK.eos_id, 0] = 5.0
    ids, _, lengths = generate(m, _prompts(4), 8, greedy=True)
    assert ids.shape == (4, 1)
    assert (ids[:, 0] == TOK.eos_id).all() and (lengths == 1).all()


def test_too_long_generation_raises() -> None:
    m = _model()
    with pytest.raises(ModelError, match="block_size"):
        generate(m, [[4] * 90], 20, greedy=True)
    with pytest.raises(ModelError):
        generate(m, [], 5)


def test_hf_round_trip_greedy_tokens_and_logits_match(tmp_path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = _model(2)
    save_pretrained(m, TOK, tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
    assert type(hf).__name__ == "GPT2LMHeadModel"
    hft = AutoTokenizer.from_pretrained(str(tmp_path))
    texts = ["A12+34d=", "R>5521r=", "A1+9?=", "T3,S1>80412s="]
    prompts = [TOK.encode(t) for t in texts]
    ids, _, _ = generate(m, prompts, 12, greedy=True)
    enc = hft(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = hf.generate(**enc, max_new_tokens=12, do_sample=False)
        x = torch.tensor([prompts[0]])
        assert torch.allclose(hf(x).logits, m(x)[0], atol=1e-5)
    hf_new = out[:, enc["input_ids"].shape[1] :]
    T = min(hf_new.shape[1], ids.shape[1])
    assert torch.equal(hf_new[:, :T], ids[:, :T])
    m2, tok2 = load_pretrained(tmp_path)
    assert tok2.vocab == TOK.vocab
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_load_rejects_missing_dir(tmp_path) -> None:
    with pytest.raises(ModelError, match="config.json"):
        load_pretrained(tmp_path)


def test_sequence_logprobs_equals_per_row_unpadded_forward() -> None:
    m = _model(3, scale=4.0)
    prompts = _prompts(5, seed=2)
    comps = [TOK.encode(s) for s in ("d12$", "r3$", "s45,67|901$", "d$", "c10,01|1$")]
    T = max(len(c) for c in comps)
    comp = torch.full((5, T), TOK.pad_id, dtype=torch.long)
    for i, c in enumerate(comps):
        comp[i, : len(c)] = torch.tensor(c)
    mask = comp != TOK.pad_id
    p_ids, _ = left_pad(prompts, TOK.pad_id)
    got = sequence_logprobs(m, p_ids, comp, mask, temperature=0.5)
    for i, (p, c) in enumerate(zip(prompts, comps)):
        logits, _ = m(torch.tensor([p + c]))
        ref = torch.log_softmax(logits[0, len(p) - 1 : -1] / 0.5, -1)
        ref = ref.gather(1, torch.tensor(c)[:, None]).squeeze(1)
        assert torch.allclose(got[i, : len(c)], ref, atol=1e-5)
        assert (got[i, len(c) :] == 0).all()
    got.sum().backward()
    assert m.transformer["wte"].weight.grad is not None


def test_longest_items_fit_the_default_context() -> None:
    from zpd.lab.tasks import ALLOWED, render_completion

    cfg = TaskConfig(ops=tuple(Op), formats=tuple(Fmt), digits=(12, 12), steps=(3, 3), n_items=200)
    longest = max(
        len(it.prompt) + len(render_completion(it, f))
        for it in make_items(cfg, 0)
        for f in ALLOWED[Op(it.op)]
    )
    assert longest <= GPTConfig().block_size
