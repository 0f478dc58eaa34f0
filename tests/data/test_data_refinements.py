"""The student-side refinement rule (arXiv 2402.10110) on worked cases and on a file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from datahelpers import write_jsonl

from zpd.data.errors import DataError
from zpd.data.io import read_results
from zpd.data.pipeline import RunConfig
from zpd.data.refinements import (
    GUARD_STATS,
    PromptTest,
    RefinementConfig,
    ResponseTest,
    decide,
    filter_refinements,
)


def _decide(orig, ref, p_changed, a_changed, **cfg):
    o = {"ifd": np.array([orig[0]]), "rifd": np.array([orig[1]])}
    r = {"ifd": np.array([ref[0]]), "rifd": np.array([ref[1]])}
    d, why = decide(o, r, np.array([p_changed]), np.array([a_changed]), RefinementConfig(**cfg))
    return d[0], why[0]


def test_rule_worked_cases() -> None:
    # harder prompt and clearer answer, both within reach: the refinement is kept
    assert _decide((0.8, 0.7), (0.9, 0.6), True, True) == ("refined", "accepted")
    # refined prompt makes the pair easier: rejected, the original (within reach) stays
    assert _decide((0.8, 0.7), (0.7, 0.6), True, False) == ("original", "prompt_not_harder")
    # refined answer does not help infer the prompt
    assert _decide((0.8, 0.7), (0.8, 0.75), False, True) == ("original", "answer_not_clearer")
    # a refined prompt with its own new answer is the paper's instruction reflection: IFD alone
    # decides it, even when the new pair's r-IFD is worse
    assert _decide((0.8, 0.7), (0.9, 0.8), True, True) == ("refined", "accepted")
    assert _decide((0.8, 0.7), (0.7, 0.5), True, True) == ("original", "prompt_not_harder")
    # harder, but beyond reach (IFD >= 1): rejected
    assert _decide((0.8, 0.7), (1.2, 0.6), True, True) == ("original", "refined_ifd_too_high")
    # rejected and the original is out of reach too: dropped, both reasons given
    assert _decide((0.9, 1.1), (0.8, 0.6), True, False) == (
        "dropped", "prompt_not_harder;original_rifd_too_high")
    # the paper's released selection keeps only accepted refinements
    assert _decide((0.8, 0.7), (0.7, 0.6), True, False, keep_original=False) == (
        "dropped", "prompt_not_harder;not_kept")
    # thresholds are configurable; NaN statistics count as out of reach
    assert _decide((0.8, 0.7), (0.85, 0.6), True, False, min_ifd_gain=0.1)[0] == "original"
    assert _decide((0.8, 0.7), (1.2, 0.6), True, False, max_ifd=1.5)[0] == "refined"
    assert _decide((0.8, 0.7), (float("nan"), 0.6), False, True)[1] == "refined_ifd_too_high"
    assert _decide((0.8, 0.7), (0.8, 0.7), False, False) == ("original", "no_refinement")
    with pytest.raises(DataError, match="max_ifd"):
        RefinementConfig(max_ifd=0)


def test_filter_file_writes_kept_rows_decisions_and_report(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    rows = []
    for i in range(16):
        row = {"prompt": f"{i}+{i}=", "answer": str(2 * i), "id": i}
        if i % 3 == 0:
            row["refined_prompt"] = f"{i} + {i} ="
        if i % 3 == 1:
            row["refined_answer"] = f"{2 * i} because {i}+{i}"
        rows.append(row)  # i % 3 == 2: no refinement
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = tmp_path / "kept.jsonl"
    report = filter_refinements(data, tiny_model, out, config=RefinementConfig(max_ifd=2.0,
                                                                               max_rifd=2.0),
                                device="cpu", run=RunConfig(batch_rows=5, progress=False))
    decisions = list(read_results(tmp_path / "kept.jsonl.decisions.jsonl"))
    assert [d["row"] for d in decisions] == list(range(16))
    # a plain Hugging Face student: the paper's r-IFD judges refined answers
    assert {d["response_test"] for d in decisions} == {"rifd"}
    assert {d["prompt_test"] for d in decisions} == {"ifd"}
    cfg = RefinementConfig(max_ifd=2.0, max_rifd=2.0)
    for d, row in zip(decisions, rows):  # each logged decision follows from its logged stats
        changed_p, changed_a = "refined_prompt" in row, "refined_answer" in row
        stats = {w: {k: np.array([math.nan if d[f"{k}_{w}"] is None else d[f"{k}_{w}"]])
                     for k in GUARD_STATS}  # a one-token text has no unconditional NLL: null
                 for w in ("original", "refined")}
        got, why = decide(stats["original"], stats["refined"], np.array([changed_p]),
                          np.array([changed_a]), cfg, ResponseTest(d["response_test"]),
                          PromptTest(d["prompt_test"]))
        assert (d["decision"], d["reason"]) == (got[0], why[0])
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(kept) == report["kept"] == sum(d["decision"] != "dropped" for d in decisions)
    by_id = {k["id"]: k for k in kept}
    for d, row in zip(decisions, rows):
        if d["decision"] == "refined":
            assert by_id[row["id"]]["prompt"] == row.get("refined_prompt", row["prompt"])
            assert by_id[row["id"]]["zpd_source"] == "refined"
    assert report["reasons"]["no_refinement"] == 5
    assert report["response_test_used"] == ["rifd"]
    assert report["prompt_test_used"] == ["ifd"]
    saved = json.loads((tmp_path / "kept.jsonl.report.json").read_text())
    assert saved["decisions"] == report["decisions"]


def test_guards_reject_text_the_student_cannot_read_or_predicts_worse_than_chance() -> None:
    o = {"ifd": np.array([0.8, 0.8]), "rifd": np.array([0.7, 0.7]),
         "nll_answer_given_prompt": np.array([0.5, 0.5]),
         "unknown_share": np.array([0.0, 0.0]), "answer_nll_limit": np.array([3.4, 3.4])}
    # both refinements pass the paper's ratio rule; one is unreadable, one is worse than chance
    r = {"ifd": np.array([0.9, 0.9]), "rifd": np.array([0.1, 0.1]),
         "nll_answer_given_prompt": np.array([0.6, 8.8]),
         "unknown_share": np.array([0.4, 0.0]), "answer_nll_limit": np.array([3.4, 3.4])}
    d, why = decide(o, r, np.array([True, True]), np.array([True, True]), RefinementConfig())
    assert d == ["original", "original"]
    assert why == ["refined_unknown_tokens", "refined_answer_worse_than_chance"]
    d, _ = decide(o, r, np.array([True, True]), np.array([True, True]),
                  RefinementConfig(max_unknown_share=0.5))
    assert d[0] == "refined"
    with pytest.raises(DataError, match="max_unknown_share"):
        RefinementConfig(max_unknown_share=2.0)


def test_english_pairs_under_a_digit_student_are_rejected(tiny_model: Path) -> None:
    from zpd.data.model_io import load_model
    from zpd.data.refinements import RefinementFilter

    filt = RefinementFilter(load_model(tiny_model, device="cpu"))
    res = filt.filter(["12+3="], ["15"], ["PLEASE ADD TWELVE AND THREE"], ["FIFTEEN"])
    assert res["decision"] != ["refined"]
    assert res["unknown_share_refined"][0] > 0.5 and res["unknown_share_original"][0] == 0
    assert "prompt_not_harder" in res["reason"][0] or "unknown_tokens" in res["reason"][0]


def _stats(ifd, rifd, nll):
    return {"ifd": np.array(ifd), "rifd": np.array(rifd),
            "nll_answer_given_prompt": np.array(nll)}


def test_answer_nll_response_test_judges_refined_answers_by_their_feasibility() -> None:
    # r-IFD above 1 everywhere, as a completion-only student gives it: the paper's test and its
    # reach bound would reject all; answer-nll keeps the answer the student finds more likely
    o = _stats([0.1, 0.1, 0.1], [1.3, 1.3, 1.3], [0.8, 0.1, 0.1])
    r = _stats([0.05, 0.3, 0.2], [1.2, 1.4, 1.3], [0.1, 0.8, 0.3])
    p_changed, a_changed = np.array([False, False, True]), np.array([True, True, True])
    cfg = RefinementConfig()
    d, why = decide(o, r, p_changed, a_changed, cfg, ResponseTest.ANSWER_NLL)
    assert d == ["refined", "original", "refined"]
    assert why[1] == "answer_not_more_feasible"
    d, why = decide(o, r, p_changed, a_changed, cfg, ResponseTest.RIFD)
    assert d == ["dropped", "dropped", "dropped"]
    assert why[0] == "refined_rifd_too_high;original_rifd_too_high"
    # the drop margin applies to the NLL test too
    d, _ = decide(o, r, p_changed, a_changed, RefinementConfig(min_rifd_drop=1.0),
                  ResponseTest.ANSWER_NLL)
    assert d[0] == "original"
    with pytest.raises(DataError, match="resolved"):
        decide(o, r, p_changed, a_changed, cfg, ResponseTest.AUTO)
    # without an explicit test, decide() follows the config's (auto = the paper's r-IFD)
    nll_cfg = RefinementConfig(response_test=ResponseTest.ANSWER_NLL)
    assert decide(o, r, p_changed, a_changed, nll_cfg)[0] == ["refined", "original", "refined"]
    assert decide(o, r, p_changed, a_changed, cfg)[0] == ["dropped", "dropped", "dropped"]
    with pytest.raises(DataError, match="response_test"):
        RefinementConfig(response_test="nll")  # type: ignore[arg-type]


def test_answer_nll_prompt_test_judges_refined_prompts_by_the_answer_nll_they_give() -> None:
    # IFD's denominator out of distribution, as a completion-only student gives it: IFD falls
    # for the harder refinement (row 0) and rises for the easier one (row 1); NLL(y | x) does
    # not follow the denominator. Row 2 is beyond IFD's reach bound, which answer-nll ignores.
    o = _stats([0.02, 0.02, 0.5], [1.3, 1.3, 1.3], [0.10, 0.10, 0.10])
    r = _stats([0.01, 0.05, 1.4], [1.2, 1.4, 1.3], [0.24, 0.05, 0.30])
    p_changed, a_changed = np.array([True, True, True]), np.array([True, True, True])
    cfg = RefinementConfig()
    d, why = decide(o, r, p_changed, a_changed, cfg, ResponseTest.ANSWER_NLL,
                    PromptTest.ANSWER_NLL)
    assert d == ["refined", "original", "refined"]
    assert why[1] == "prompt_not_harder"
    d, why = decide(o, r, p_changed, a_changed, cfg, ResponseTest.ANSWER_NLL, PromptTest.IFD)
    assert d == ["original", "refined", "original"]
    assert why[2] == "refined_ifd_too_high"
    # the gain margin applies to the NLL test too, in nats/token
    d, _ = decide(o, r, p_changed, a_changed, RefinementConfig(min_ifd_gain=0.15),
                  ResponseTest.ANSWER_NLL, PromptTest.ANSWER_NLL)
    assert d == ["original", "original", "refined"]
    with pytest.raises(DataError, match="resolved"):
        decide(o, r, p_changed, a_changed, cfg, ResponseTest.RIFD, PromptTest.AUTO)
    # without an explicit test, decide() follows the config's (auto = the paper's IFD)
    both = RefinementConfig(prompt_test=PromptTest.ANSWER_NLL, response_test="answer-nll")
    assert decide(o, r, p_changed, a_changed, both)[0] == ["refined", "original", "refined"]
    with pytest.raises(DataError, match="prompt_test"):
        RefinementConfig(prompt_test="nll")  # type: ignore[arg-type]


def test_auto_response_test_follows_what_is_known_of_the_student(tiny_model: Path) -> None:
    from zpd.cli.filter import PROMPT_TESTS, RESPONSE_TESTS
    from zpd.data.model_io import load_model
    from zpd.data.refinements import RefinementFilter
    from zpd.lab.experiments import demo_config
    from zpd.lab.pretrain import SHIPPED

    assert RESPONSE_TESTS == tuple(m.value for m in ResponseTest)
    assert RESPONSE_TESTS[0] == RefinementConfig().response_test.value
    assert PROMPT_TESTS == tuple(m.value for m in PromptTest)
    assert PROMPT_TESTS[0] == RefinementConfig().prompt_test.value
    lab = SHIPPED / demo_config().pretrain.fingerprint() / "final"
    on_lab = RefinementFilter(load_model(lab, device="cpu"))
    assert on_lab.response_test is ResponseTest.ANSWER_NLL  # trained on completions only
    assert on_lab.prompt_test is PromptTest.ANSWER_NLL
    assert RefinementFilter(load_model(tiny_model, device="cpu")).prompt_test is PromptTest.IFD
    assert RefinementFilter(load_model(tiny_model, device="cpu")).response_test is \
        ResponseTest.RIFD
    forced = RefinementFilter(load_model(lab, device="cpu"),
                              RefinementConfig(response_test=ResponseTest.RIFD))
    assert forced.response_test is ResponseTest.RIFD
    assert forced.prompt_test is PromptTest.ANSWER_NLL  # each test is resolved on its own
    assert RefinementFilter(load_model(tiny_model, device="cpu"),
                            completion_only=True).response_test is ResponseTest.ANSWER_NLL


def test_cli_on_a_lab_checkpoint_judges_answers_by_nll_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zpd.cli.main import main
    from zpd.lab import tasks
    from zpd.lab.experiments import demo_config
    from zpd.lab.pretrain import SHIPPED

    lab = SHIPPED / demo_config().pretrain.fingerprint() / "final"
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(6):
        it = tasks.reversal_item(tasks.random_digits(4, rng, palindrome=False))
        right = tasks.render_completion(it)
        wrong = tasks.render_completion(it, answer=tasks.corrupt_answer(it.answer, rng))
        rows += [{"prompt": it.prompt, "answer": wrong, "refined_answer": right},  # fixed
                 {"prompt": it.prompt, "answer": right, "refined_answer": wrong}]  # made worse
    for _ in range(4):  # refined prompts: the same digits and three more, with the right answer
        x = tasks.random_digits(4, rng, palindrome=False)
        it, longer = tasks.reversal_item(x), tasks.reversal_item(x + tasks.random_digits(3, rng))
        rows.append({"prompt": it.prompt, "answer": tasks.render_completion(it),
                     "refined_prompt": longer.prompt,
                     "refined_answer": tasks.render_completion(longer)})
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = tmp_path / "kept.jsonl"
    assert main(["filter", "refinements", str(data), "--model", str(lab), "--out", str(out),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "answers are judged by answer-nll instead of r-IFD" in err
    assert "prompts are judged by answer-nll instead of IFD" in err
    decisions = list(read_results(tmp_path / "kept.jsonl.decisions.jsonl"))
    assert {d["response_test"] for d in decisions} == {"answer-nll"}
    assert {d["prompt_test"] for d in decisions} == {"answer-nll"}
    # the lab base reverses 4 digits: every fix is taken, every corruption refused
    assert [d["decision"] for d in decisions[:12]] == ["refined", "original"] * 6
    for d in decisions[12:]:  # a refined prompt is taken exactly when the answer got harder
        harder = d["nll_answer_given_prompt_refined"] > d["nll_answer_given_prompt_original"]
        assert d["decision"] == ("refined" if harder else "original"), d
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    assert all(k["answer"] == rows[2 * i + 1]["answer"] for i, k in enumerate(kept[:12:2]))
