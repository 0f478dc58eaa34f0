"""Keep strategies, EL2N, forgetting events and LESS gradient selection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datahelpers import addition_rows, write_jsonl

from zpd.data.errors import DataError
from zpd.data.less import (
    ADAM_FILE,
    LessCheckpoint,
    LessConfig,
    LessSelector,
    RademacherProjector,
    warmup,
)
from zpd.data.model_io import load_model
from zpd.data.pipeline import RunConfig
from zpd.data.selection import (
    EL2NScorer,
    ForgettingScorer,
    ForgettingTracker,
    forgetting_events,
    keep_indices,
)
from zpd.data.subset import TargetSpec, select


def test_keep_indices_strategies() -> None:
    s = [3.0, 1.0, 2.0, 5.0, 4.0]
    assert keep_indices(s, 0.4, "easy").tolist() == [1, 2]
    assert keep_indices(s, 0.4, "hard").tolist() == [3, 4]
    r = keep_indices(s, 0.6, "random", seed=3)
    assert r.size == 3 and np.unique(r).size == 3
    assert r.tolist() == keep_indices(s, 0.6, "random", seed=3).tolist()
    assert keep_indices([1.0, 1.0, 1.0], 0.34, "hard").tolist() == [0]  # ties: lower index
    with pytest.raises(DataError, match="NaN"):
        keep_indices([1.0, float("nan")], 0.5, "easy")
    with pytest.raises(DataError, match="fraction"):
        keep_indices(s, 0.0)
    with pytest.raises(DataError, match="strategy"):
        keep_indices(s, 0.5, "medium")


def test_forgetting_events_and_online_tracker_agree() -> None:
    correct = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]], dtype=bool)
    assert forgetting_events(correct).tolist() == [2.0, 4.0, 0.0, 1.0]
    tr = ForgettingTracker(5)
    for t in range(4):
        tr.update(np.arange(4), correct[:, t])
    got = tr.scores()
    assert got[:4].tolist() == [2.0, np.inf, 0.0, 1.0] and got[4] == np.inf
    with pytest.raises(DataError, match="distinct"):
        tr.update([1, 1], [True, False])


def _manual_answer_stats(lm, prompt: str, answer: str) -> tuple[float, float]:
    a, b = lm.encode([prompt])[0], lm.encode([answer])[0]
    pre = lm.prefix_ids  # the tokenizer's own convention (this one adds nothing)
    ids = torch.tensor([[*pre, *a, *b]])
    with torch.no_grad():
        probs = torch.softmax(lm.model(input_ids=ids).logits[0].double(), dim=-1)
    el2n, acc = [], []
    for t in range(len(pre) + len(a), ids.shape[1]):
        onehot = torch.zeros(probs.shape[-1], dtype=torch.double)
        onehot[ids[0, t]] = 1
        el2n.append(float(torch.linalg.norm(probs[t - 1] - onehot)))
        acc.append(float(probs[t - 1].argmax() == ids[0, t]))
    return float(np.mean(el2n)), float(np.mean(acc))


def test_el2n_and_forgetting_match_a_manual_computation(tiny_model: Path,
                                                        tiny_model_b: Path) -> None:
    lms = [load_model(tiny_model, device="cpu"), load_model(tiny_model_b, device="cpu")]
    rows = addition_rows(10, seed=5)
    prompts, answers = [r["prompt"] for r in rows], [r["answer"] for r in rows]
    el2n = EL2NScorer(lms, batch_tokens=32).score(prompts, answers)
    for i in (0, 9):
        want = np.mean([_manual_answer_stats(lm, prompts[i], answers[i])[0] for lm in lms])
        assert el2n[i] == pytest.approx(want, abs=1e-5)
    scorer = ForgettingScorer(lms, threshold=0.5)
    learned = scorer.learned(prompts, answers)
    for i in range(10):
        for j, lm in enumerate(lms):
            assert learned[i, j] == (_manual_answer_stats(lm, prompts[i], answers[i])[1] >= 0.5)
    np.testing.assert_array_equal(scorer.score(prompts, answers), forgetting_events(learned))


def test_select_el2n_file_keeps_the_hardest_fraction(tiny_model: Path, tiny_model_b: Path,
                                                     tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(30))
    out = tmp_path / "kept.jsonl"
    rep = select(data, out, method="el2n", models=[tiny_model, tiny_model_b], fraction=0.2,
                 strategy="hard", device="cpu", run=RunConfig(batch_rows=7, progress=False))
    assert rep["kept"] == 6 and rep["scored"] == 30
    scores = [json.loads(x)["score"] for x in (tmp_path / "kept.jsonl.scores.jsonl").open()]
    kept = [json.loads(x) for x in out.open()]
    assert sorted(k["zpd_score"] for k in kept) == sorted(scores)[-6:]
    assert all(k["prompt"].endswith("=") for k in kept)  # original records are carried over
    with pytest.raises(DataError, match="two checkpoints|>= 2"):
        select(data, out, method="forgetting", models=[tiny_model], fraction=0.5)


def test_rademacher_projection_is_seeded_chunk_invariant_and_preserves_geometry() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3000, generator=g)
    cached = RademacherProjector(3000, 512, seed=7, chunk=1000, cache_mb=64)
    uncached = RademacherProjector(3000, 512, seed=7, chunk=1000, cache_mb=0)
    a, b = cached.project(x), uncached.project(x)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, cached.project(x))
    ratio = a.norm(dim=1) / x.norm(dim=1)
    assert ((ratio > 0.85) & (ratio < 1.15)).all()  # JL: d=512 keeps norms within ~10%
    cos_x = torch.nn.functional.cosine_similarity(x[0] + x[1], x[0], dim=0)
    cos_p = torch.nn.functional.cosine_similarity(a[0] + a[1], a[0], dim=0)
    assert abs(float(cos_x - cos_p)) < 0.1
    assert not torch.allclose(a, RademacherProjector(3000, 512, seed=8).project(x))


def test_less_scores_an_exact_copy_of_a_target_highest(tiny_model: Path) -> None:
    rows = addition_rows(8, seed=2)
    prompts, answers = [r["prompt"] for r in rows], [r["answer"] for r in rows]
    sel = LessSelector([LessCheckpoint(str(tiny_model))], LessConfig(proj_dim=256), device="cpu")
    sel.fit(prompts[:2], answers[:2], subsets=["a", "b"])
    scores = sel.score(prompts, answers)
    assert sel.subsets_ == ["a", "b"]
    # plain-gradient features (no Adam state): a copy of a target has cosine ~1 with it
    assert scores[0] == pytest.approx(1.0, abs=0.05) and scores[1] == pytest.approx(1.0, abs=0.05)
    assert scores[2:].max() < 0.97


def test_warmup_checkpoints_and_adam_preconditioned_selection(tiny_model: Path,
                                                              tmp_path: Path) -> None:
    rows = addition_rows(6, seed=4)
    prompts, answers = [r["prompt"] for r in rows], [r["answer"] for r in rows]
    cfg = LessConfig(proj_dim=128)
    ckpts = warmup(tiny_model, prompts, answers, tmp_path / "w", epochs=2, lr=1e-3,
                   batch_size=3, device="cpu", config=cfg)
    assert [Path(c.model).name for c in ckpts] == ["epoch1", "epoch2"]
    stamp = {f: f.stat().st_mtime_ns for f in (tmp_path / "w").rglob("*") if f.is_file()}
    again = warmup(tiny_model, prompts, answers, tmp_path / "w", epochs=2, lr=1e-3,
                   batch_size=3, device="cpu", config=cfg)  # same inputs: the cache, no training
    assert again == ckpts
    assert {f: f.stat().st_mtime_ns for f in (tmp_path / "w").rglob("*") if f.is_file()} == stamp
    other = warmup(tiny_model, prompts, answers, tmp_path / "w", epochs=2, lr=2e-3,
                   batch_size=3, device="cpu", config=cfg)  # another lr: trained again
    assert other[0].lr == 2e-3 and (tmp_path / "w" / "epoch1").stat().st_mtime_ns >= min(
        stamp.values())
    ckpts = warmup(tiny_model, prompts, answers, tmp_path / "w", epochs=2, lr=1e-3,
                   batch_size=3, device="cpu", config=cfg)
    from safetensors.torch import load_file

    state = load_file(str(Path(ckpts[1].model) / ADAM_FILE))
    names = [n for n, _ in load_model(ckpts[1].model, device="cpu").model.named_parameters()]
    assert all(f"exp_avg_sq/{n}" in state for n in names)
    assert LessCheckpoint.from_dir(ckpts[0].model) == ckpts[0]
    sel = LessSelector(ckpts, cfg, device="cpu").fit(prompts[:1], answers[:1])
    a = sel.score(prompts, answers)
    assert a.shape == (6,) and np.isfinite(a).all()
    assert np.all(np.abs(a) <= 2 * 1e-3 + 1e-9)  # |sum_i lr_i * cos| <= sum_i lr_i
    # the Adam state changes the features: same checkpoints without it score differently
    plain = [LessCheckpoint(c.model, c.lr, None) for c in ckpts]
    b = LessSelector(plain, cfg, device="cpu").fit(prompts[:1], answers[:1]).score(prompts,
                                                                                   answers)
    assert not np.allclose(a, b)


def test_select_less_file_with_target_subsets(tiny_model: Path, tmp_path: Path) -> None:
    rows = addition_rows(10, seed=6)
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    targets = write_jsonl(tmp_path / "val.jsonl", [dict(rows[3], task="t1"),
                                                   dict(rows[7], task="t2")])
    out = tmp_path / "kept.jsonl"
    rep = select(data, out, method="less", models=[tiny_model], fraction=0.2,
                 targets=TargetSpec(str(targets), subset_field="task"),
                 less=LessConfig(proj_dim=256), device="cpu",
                 run=RunConfig(progress=False))
    kept = sorted(json.loads(x)["prompt"] for x in out.open())
    assert rep["kept"] == 2 and kept == sorted([rows[3]["prompt"], rows[7]["prompt"]])


def test_lora_adapters_start_exact_roundtrip_and_feed_less(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    from zpd.data.lora import LoraConfig, add_lora, load_lora, save_lora

    lm = load_model(tiny_model, device="cpu")
    ids = torch.tensor([lm.encode(["12+34=46"])[0]])
    with torch.no_grad():
        before = lm.model(input_ids=ids).logits
    cfg = LoraConfig(r=2, alpha=4.0, targets=("c_attn",))
    assert add_lora(lm.model, cfg) == ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"]
    trainable = [n for n, p in lm.model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    with torch.no_grad():
        torch.testing.assert_close(lm.model(input_ids=ids).logits, before)  # B = 0: exact
        for n, p in lm.model.named_parameters():
            if n.endswith("lora_B"):
                p.add_(0.05)
        changed = lm.model(input_ids=ids).logits
    assert not torch.allclose(changed, before)
    save_lora(lm.model, cfg, tmp_path / "ad")
    again = load_model(tiny_model, device="cpu")
    load_lora(again.model, tmp_path / "ad")
    with torch.no_grad():
        torch.testing.assert_close(again.model(input_ids=ids).logits, changed)

    rows = addition_rows(4, seed=8)
    prompts, answers = [r["prompt"] for r in rows], [r["answer"] for r in rows]
    ckpts = warmup(tiny_model, prompts, answers, tmp_path / "w", epochs=1, lr=1e-2,
                   batch_size=2, device="cpu", config=LessConfig(proj_dim=64), lora=cfg)
    assert ckpts[0].base == str(tiny_model.resolve())
    assert LessCheckpoint.from_dir(ckpts[0].model) == ckpts[0]
    sel = LessSelector(ckpts, LessConfig(proj_dim=64), device="cpu").fit(prompts[:1], answers[:1])
    n_lora = sum(p.numel() for n, p in again.model.named_parameters() if "lora_" in n)
    assert sel._ckpts[0].proj.num_params == n_lora  # features come from the adapters only
    assert np.isfinite(sel.score(prompts, answers)).all()


def test_sparse_projection_is_seeded_and_preserves_geometry() -> None:
    from zpd.data.less import SparseProjector

    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3000, generator=g)
    a = SparseProjector(3000, 512, seed=7, nnz=8, chunk=3000).project(x)
    torch.testing.assert_close(a, SparseProjector(3000, 512, seed=7, nnz=8, chunk=3000).project(x))
    ratio = a.norm(dim=1) / x.norm(dim=1)
    assert ((ratio > 0.85) & (ratio < 1.15)).all()  # norms kept like the dense JL
    cos_x = torch.nn.functional.cosine_similarity(x[0] + x[1], x[0], dim=0)
    cos_p = torch.nn.functional.cosine_similarity(a[0] + a[1], a[0], dim=0)
    assert abs(float(cos_x - cos_p)) < 0.1
    assert not torch.allclose(a, SparseProjector(3000, 512, seed=8).project(x))
    with pytest.raises(DataError, match="gradient entries"):
        SparseProjector(10, 4, seed=0).project(torch.zeros(1, 9))
    with pytest.raises(DataError, match="projection"):
        LessConfig(projection="dense")
