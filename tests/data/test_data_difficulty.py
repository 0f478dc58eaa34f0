"""Pass rates: intervals, pass@k, verifiers, sampling against the model's own probabilities,
and warm-starting the core Curriculum from a result file."""

from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch
from datahelpers import write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

import zpd
from zpd.data.difficulty import (
    DifficultyConfig,
    DifficultyScorer,
    curriculum_features,
    load_difficulty,
    pass_at_k,
    pass_rate_interval,
    score_difficulty,
    warm_start,
)
from zpd.data.errors import DataError
from zpd.data.model_io import load_model
from zpd.data.pipeline import RunConfig
from zpd.data.sampling import HFSampler, SamplingConfig, cut_at_stop
from zpd.data.verify import exact_match, load_verifier, numeric_match


def test_wilson_interval_worked_values() -> None:
    lo, hi = pass_rate_interval([0, 5, 10], [10, 10, 10], kind="wilson", confidence=0.95)
    # Wilson 95%: 0/10 -> [0, 0.2775]; 5/10 -> [0.2366, 0.7634]; 10/10 -> [0.7225, 1]
    np.testing.assert_allclose(lo, [0.0, 0.2366, 0.7225], atol=1e-4)
    np.testing.assert_allclose(hi, [0.2775, 0.7634, 1.0], atol=1e-4)
    with pytest.raises(DataError, match="successes <= n"):
        pass_rate_interval([3], [2])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), frac=st.floats(0, 1), conf=st.floats(0.5, 0.99))
def test_intervals_contain_the_estimate_and_nest(n: int, frac: float, conf: float) -> None:
    s = round(frac * n)
    p = s / n
    bounds = {k: pass_rate_interval([s], [n], kind=k, confidence=conf)
              for k in ("wilson", "jeffreys", "clopper-pearson")}
    for lo, hi in bounds.values():
        assert 0.0 <= lo[0] <= p + 1e-12 and p - 1e-12 <= hi[0] <= 1.0
    cp_lo, cp_hi = bounds["clopper-pearson"]
    j_lo, j_hi = bounds["jeffreys"]
    assert cp_lo[0] <= j_lo[0] + 1e-9 and j_hi[0] <= cp_hi[0] + 1e-9  # exact is widest


def test_pass_at_k_matches_brute_force_enumeration() -> None:
    for n, c, k in [(5, 2, 1), (5, 2, 3), (6, 0, 2), (6, 5, 2), (8, 3, 8)]:
        samples = [1] * c + [0] * (n - c)
        subsets = list(combinations(samples, k))
        brute = sum(any(s) for s in subsets) / len(subsets)
        assert pass_at_k([n], [c], k)[0] == pytest.approx(brute)
    with pytest.raises(DataError, match="k <= n"):
        pass_at_k([3], [1], 4)


def test_verifiers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert exact_match(" 42\n", "42") == 1.0 and exact_match("421", "42") == 0.0
    assert numeric_match("so the answer is 1,234.0", "1234") == 1.0
    assert numeric_match("3/4", "0.75") == 1.0 and numeric_match("7 then 8", "7") == 0.0
    with pytest.raises(DataError, match="numeric reference"):
        numeric_match("1", "abc")
    (tmp_path / "myverif.py").write_text(
        "def two(c, ref):\n    return c.startswith(ref)\n"
        "def three(c, ref, row):\n    return 0.5 if row.get('half') else 1.0\n"
        "def bad(c, ref):\n    return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_verifier("myverif:two")("12x", "12", {}) == 1.0
    assert load_verifier("myverif:three")("", "", {"half": True}) == 0.5
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        load_verifier("myverif:bad")("a", "b", {})
    with pytest.raises(DataError, match="cannot import"):
        load_verifier("no_such_module_xyz:f")
    sys.modules.pop("myverif", None)
    assert cut_at_stop("12\n34", ["\n", "3"]) == "12"


def test_sampled_pass_rates_agree_with_the_models_own_probabilities(tiny_model: Path) -> None:
    """One-token answers: each item's true pass rate is a softmax entry of the model."""
    lm = load_model(tiny_model, device="cpu")
    prompts = [f"{a}+{b}=" for a, b in [(1, 2), (3, 4), (5, 6), (7, 8), (9, 1), (2, 2)]]
    temp = 0.5
    with torch.no_grad():
        true_p, answers = [], []
        for i, p in enumerate(prompts):
            ids = torch.tensor([lm.encode([p])[0]])
            probs = torch.softmax(lm.model(input_ids=ids).logits[0, -1] / temp, dim=-1)
            tok = int(probs.argmax()) if i % 2 == 0 else int(probs.argsort()[-2])
            answers.append(lm.tokenizer.decode([tok]))
            true_p.append(float(probs[tok]))
    cfg = DifficultyConfig(sampling=SamplingConfig(k=200, temperature=temp, max_new_tokens=1,
                                                   batch_prompts=6, seed=1),
                           confidence=0.999)
    recs = DifficultyScorer(HFSampler(lm, cfg.sampling), cfg).score(prompts, answers)
    for rec, p in zip(recs, true_p):
        assert rec["n"] == 200
        assert rec["lower"] <= p <= rec["upper"], (rec, p)
    assert recs[0]["pass_rate"] > recs[1]["pass_rate"] or true_p[0] <= true_p[1]


def test_score_file_then_warm_start_static_and_zpd(tiny_model: Path, tmp_path: Path) -> None:
    lm = load_model(tiny_model, device="cpu")
    with torch.no_grad():
        greedy = [lm.tokenizer.decode([int(lm.model(input_ids=torch.tensor(
            [lm.encode([f"{i}="])[0]])).logits[0, -1].argmax())]) for i in range(12)]
    # even rows: the greedy token (always right at temperature 0); odd rows: never produced
    rows = [{"prompt": f"{i}=", "answer": greedy[i] if i % 2 == 0 else "never",
             "category": "even" if i % 2 == 0 else "odd"} for i in range(12)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    cfg = DifficultyConfig(sampling=SamplingConfig(k=4, temperature=0.0, max_new_tokens=1))
    out = tmp_path / "diff.jsonl"
    s = score_difficulty(data, tiny_model, out, category_field="category", config=cfg,
                         device="cpu", run=RunConfig(batch_rows=5, progress=False))
    assert s.scored == 12
    table = load_difficulty(out)
    np.testing.assert_array_equal(table.pass_rate, [1.0, 0.0] * 6)
    feats = curriculum_features(out, num_items=14)
    assert feats["prior_pass_rate"].shape == (14,) and np.isnan(feats["prior_pass_rate"][12:]).all()
    static = warm_start(out, policy="static", group_size=4)
    assert static.policy_name.value == "static"
    zpd_cur = warm_start(out, policy="zpd", group_size=4)
    est = zpd_cur.estimate(np.arange(12))
    assert (est.mean[0::2] > 0.6).all() and (est.mean[1::2] < 0.4).all()
    cold = zpd.Curriculum(12, policy="zpd", group_size=4)
    assert np.allclose(cold.estimate(np.arange(12)).mean, cold.estimate(np.arange(12)).mean[0])
