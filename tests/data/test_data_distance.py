"""NLL / IFD scoring against an unbatched reference, and the resumable file runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datahelpers import addition_rows, write_jsonl

from zpd.data.distance import DistanceConfig, DistanceScorer, DistanceTask, score_distance
from zpd.data.errors import DataError, RowError
from zpd.data.io import FieldSpec, read_results
from zpd.data.model_io import load_model
from zpd.data.pipeline import RunConfig, local_executor, run_file


def _reference_nll(lm, first: str, second: str) -> tuple[float, float]:
    """Mean NLL of `first` (after the tokenizer's own prefix, here none: its first token has no
    probability) and of `second` (after it), one item alone."""
    a, b = lm.encode([first])[0], lm.encode([second])[0]
    pre = lm.prefix_ids
    ids = torch.tensor([[*pre, *a, *b]])
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(input_ids=ids).logits[0].double(), dim=-1)
    nll = {t: -float(logp[t - 1, ids[0, t]]) for t in range(1, ids.shape[1])}
    first_pos = [t for t in range(len(pre), len(pre) + len(a)) if t in nll]
    second_pos = range(len(pre) + len(a), ids.shape[1])
    return (float(np.mean([nll[t] for t in first_pos])),
            float(np.mean([nll[t] for t in second_pos])))


def test_batched_scores_match_one_item_at_a_time(tiny_model: Path) -> None:
    lm = load_model(tiny_model, device="cpu")
    rows = addition_rows(24, seed=3)
    prompts = [r["prompt"] for r in rows]
    answers = [r["answer"] + "x" * (i % 4) for i, r in enumerate(rows)]  # ragged lengths
    out = DistanceScorer(lm, DistanceConfig(batch_tokens=64)).score(prompts, answers)
    for i in (0, 7, 23):
        nll_x, nll_y_x = _reference_nll(lm, prompts[i], answers[i])
        nll_y, nll_x_y = _reference_nll(lm, answers[i], prompts[i])
        assert out["nll_prompt"][i] == pytest.approx(nll_x, abs=1e-4)
        assert out["nll_answer_given_prompt"][i] == pytest.approx(nll_y_x, abs=1e-4)
        assert out["nll_answer"][i] == pytest.approx(nll_y, abs=1e-4)
        assert out["nll_prompt_given_answer"][i] == pytest.approx(nll_x_y, abs=1e-4)
        assert out["ifd"][i] == pytest.approx(np.exp(nll_y_x) / np.exp(nll_y), rel=1e-3)
        assert out["rifd"][i] == pytest.approx(np.exp(nll_x_y) / np.exp(nll_x), rel=1e-3)
    assert out["n_answer_tokens"].tolist() == [len(a) for a in answers]
    assert not out["truncated"].any()


def test_custom_reverse_template_and_truncation(tiny_model: Path) -> None:
    lm = load_model(tiny_model, device="cpu")
    cfg = DistanceConfig(reverse_template="a {answer} b ", max_length=14)
    out = DistanceScorer(lm, cfg).score(["12+3=", "1+1="], ["15", "2" * 20])
    nll_y, _ = _reference_nll(lm, "15", "0")
    assert out["nll_answer"][0] == pytest.approx(nll_y, abs=1e-4)  # PPL(y) stays unconditioned
    assert out["truncated"].tolist() == [False, True]
    assert lm.prefix_ids == []  # this tokenizer adds no BOS: nothing goes in front
    assert out["n_answer_tokens"][1] == 14 - 4  # the prompt takes 4 of 14 positions
    with pytest.raises(DataError, match="exactly once"):
        DistanceConfig(reverse_template="no placeholder")


class _Interrupt:
    """An executor that dies after `after` batches, as a killed job would."""

    def __init__(self, after: int):
        self.after = after
        self.first_rows: list[int] = []

    def __call__(self, batches, task):
        def spy():
            for b in batches:
                if b:
                    self.first_rows.append(b[0].row)
                yield b
        for i, recs in enumerate(local_executor(spy(), task)):
            if i == self.after:
                raise KeyboardInterrupt
            yield recs


def test_resume_after_interrupt_redoes_nothing_and_matches_a_clean_run(
        tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(50))
    spec = FieldSpec(required=(("prompt", "prompt"), ("answer", "answer")))
    task = DistanceTask(model=str(tiny_model), device="cpu")
    run = RunConfig(batch_rows=8, progress=False)
    out = tmp_path / "r.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_file(data, spec, out, task, run, executor=_Interrupt(after=3))
    assert len(list(read_results(out))) == 24  # three durable batches
    spy = _Interrupt(after=10**9)
    summary = run_file(data, spec, out, task, run, executor=spy)
    assert spy.first_rows[0] == 24 and summary.resumed_from == 24
    assert summary.scored == 50 and summary.rows == 50
    clean = tmp_path / "clean.jsonl"
    run_file(data, spec, clean, task, run)
    a, b = list(read_results(out)), list(read_results(clean))
    assert [r["row"] for r in a] == list(range(50))
    # one-token answers have no unconditional NLL without a BOS convention: null in both runs
    ifd = [[np.nan if r["ifd"] is None else r["ifd"] for r in rs] for rs in (a, b)]
    np.testing.assert_allclose(ifd[0], ifd[1], rtol=1e-5, equal_nan=True)
    assert np.isfinite(ifd[0]).sum() > 40
    # a finished run does not load the model again: it just reports
    assert run_file(data, spec, out, task, run, executor=_Interrupt(after=0)).scored == 50


def test_bad_row_fails_before_any_work_or_is_skipped_and_counted(
        tiny_model: Path, tmp_path: Path) -> None:
    rows = addition_rows(20)
    rows[13] = {"question": "1+1="}
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = tmp_path / "r.jsonl"
    with pytest.raises(RowError, match="line 14 \\(row 13\\).*'prompt'"):
        score_distance(data, tiny_model, out, device="cpu", run=RunConfig(progress=False))
    assert not out.exists()  # nothing half-written
    s = score_distance(data, tiny_model, out, device="cpu",
                       run=RunConfig(progress=False, on_error="skip", batch_rows=4))
    assert (s.scored, s.skipped) == (19, {"missing_field": 1})
    marks = [r for r in read_results(out, include_skipped=True) if "skipped" in r]
    assert [m["row"] for m in marks] == [13]
    meta = json.loads((tmp_path / "r.jsonl.meta.json").read_text())
    assert meta["summary"]["skipped"] == {"missing_field": 1}


def test_fused_gelu_does_not_change_the_model(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from zpd.data.model_io import fuse_activations

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=16, n_embd=16, n_layer=2,
                                       n_head=2, activation_function="gelu_new")).eval()
    ids = torch.randint(0, 20, (3, 9))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        assert fuse_activations(model) == 2
        after = model(input_ids=ids).logits
    torch.testing.assert_close(before, after, atol=1e-5, rtol=1e-5)
