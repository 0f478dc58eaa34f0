"""repetition: repeated answers across items beyond chance, and echoed prompt spans."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.monitors import MonitorContext, RepetitionConfig, RepetitionMonitor

CTX = MonitorContext(step=2)
N_ITEMS, G = 100, 4


def _batch(make_batch, modal: list[str], targets: list[str] | None = None, **kw):
    answers = [[a] * G for a in modal]
    return make_batch(np.zeros((len(modal), G)), answers=answers, targets=targets, **kw)


def test_thirty_percent_of_items_sharing_an_answer_alerts(make_batch) -> None:
    targets = [str(1000 + i) for i in range(N_ITEMS)]
    modal = ["42" if i % 10 < 3 else targets[i] for i in range(N_ITEMS)]
    res = RepetitionMonitor()(_batch(make_batch, modal, targets), CTX)
    assert res.metrics["top_answer_share"] == pytest.approx(0.3)
    assert res.metrics["top_answer_pvalue"] < 1e-10
    assert [a.metric for a in res.alerts] == ["top_answer_share"]
    assert "'42'" in res.alerts[0].message


def test_distinct_answers_do_not_alert(make_batch) -> None:
    targets = [str(1000 + i) for i in range(N_ITEMS)]
    res = RepetitionMonitor()(_batch(make_batch, targets, targets), CTX)
    assert res.metrics["top_answer_share"] == pytest.approx(0.01)
    assert res.metrics["distinct_answer_ratio"] == 1.0
    assert res.alerts == []


def test_repetition_explained_by_the_references_does_not_alert(make_batch) -> None:
    # 30 % of the items really have the answer 42 and the model answers them all correctly.
    targets = ["42" if i % 10 < 3 else str(1000 + i) for i in range(N_ITEMS)]
    res = RepetitionMonitor()(_batch(make_batch, targets, targets), CTX)
    assert res.metrics["top_answer_share"] == pytest.approx(0.3)
    assert res.metrics["top_answer_null_share"] == pytest.approx(30.5 / 101)
    assert res.alerts == []


def test_without_references_the_uniform_null_flags_a_shared_answer(make_batch) -> None:
    modal = ["42" if i % 10 < 3 else f"x{i}" for i in range(N_ITEMS)]
    res = RepetitionMonitor()(_batch(make_batch, modal), CTX)
    assert len(res.alerts) == 1
    assert res.metrics["top_answer_null_share"] == pytest.approx(1 / 71)


def test_uniform_null_is_calibrated_on_random_answers(make_batch) -> None:
    """Answers drawn uniformly from 10 values: the test must rarely fire (alpha = 0.01)."""
    rng = np.random.default_rng(7)
    mon = RepetitionMonitor()
    fired = 0
    for _ in range(60):
        modal = [str(v) for v in rng.integers(0, 10, N_ITEMS)]
        fired += bool(mon(_batch(make_batch, modal), CTX).alerts)
    assert fired <= 2


def test_small_answer_space_is_respected(make_batch) -> None:
    rng = np.random.default_rng(3)
    modal = [("yes", "no")[v] for v in rng.integers(0, 2, N_ITEMS)]
    mon = RepetitionMonitor(RepetitionConfig(answer_space=2))
    assert mon(_batch(make_batch, modal), CTX).alerts == []


def test_too_few_items_are_not_tested(make_batch) -> None:
    res = RepetitionMonitor()(_batch(make_batch, ["7"] * 5), CTX)
    assert res.metrics["top_answer_share"] == 1.0 and res.alerts == []


def test_modal_answer_is_per_item_and_none_is_ignored(make_batch) -> None:
    answers = [["5", "5", "9", None], [None, None, None, None]]
    res = RepetitionMonitor()(make_batch(np.zeros((2, 4)), answers=answers), CTX)
    assert res.metrics["answered_items"] == 1
    assert res.metrics["no_answer_rate"] == pytest.approx(5 / 8)


def _echo_batch(make_batch, echoing: int, with_targets: bool = True):
    """40 addition items; the first ``echoing`` of G rollouts answer the first operand."""
    a = [100 + 7 * i for i in range(40)]
    b = [500 + 3 * i for i in range(40)]
    prompts = [f"{x}+{y}=" for x, y in zip(a, b)]
    targets = [str(x + y) for x, y in zip(a, b)]
    answers = [[str(a[i]) if j < echoing else targets[i] for j in range(G)] for i in range(40)]
    return make_batch(np.zeros((40, G)), answers=answers, prompts=prompts,
                      targets=targets if with_targets else None)


def test_answers_echoing_an_operand_alert(make_batch) -> None:
    res = RepetitionMonitor()(_echo_batch(make_batch, echoing=2), CTX)
    assert res.metrics["echo_rate"] == pytest.approx(0.5)
    assert res.metrics["echo_null_rate"] == 0.0
    assert "wrong_echo_rate" in [a.metric for a in res.alerts]
    res = RepetitionMonitor()(_echo_batch(make_batch, echoing=1, with_targets=False), CTX)
    assert res.metrics["echo_rate"] == pytest.approx(0.25)
    assert "wrong_echo_rate" in [a.metric for a in res.alerts]


def test_computed_answers_do_not_echo(make_batch) -> None:
    res = RepetitionMonitor()(_echo_batch(make_batch, echoing=0), CTX)
    assert res.metrics["echo_rate"] == 0.0 and res.alerts == []


def test_echo_explained_by_references_does_not_alert(make_batch) -> None:
    # x + 0 = x: the right answer is an input span for every item.
    prompts = [f"{100 + i}+0=" for i in range(40)]
    targets = [str(100 + i) for i in range(40)]
    answers = [[t] * G for t in targets]
    res = RepetitionMonitor()(make_batch(np.ones((40, G)), answers=answers, prompts=prompts,
                                         targets=targets), CTX)
    assert res.metrics["echo_rate"] == 1.0 and res.metrics["echo_null_rate"] == 1.0
    assert res.alerts == []


def test_echo_needs_whole_tokens(make_batch) -> None:
    # "12" occurs inside "123" but is not an input span; "456" is.
    answers = [["12", "12", "456", "56"]]
    res = RepetitionMonitor()(make_batch(np.zeros((1, 4)), answers=answers,
                                         prompts=["123+456="]), CTX)
    assert res.metrics["echo_rate"] == pytest.approx(0.25)


def test_echo_of_a_lab_prompt_is_seen_and_right_echoes_are_not_tested(make_batch) -> None:
    # The lab writes the format tag right after the operand ("R>74521d="): a digit answer
    # followed by a letter is still a whole token. Palindromes' right answers echo and are
    # excluded from the tested rate; the wrong echoes on the other items are counted.
    xs = [f"{1000 + 37 * i}5" for i in range(30)] + ["12321"] * 10
    prompts = [f"R>{x}d=" for x in xs]
    targets = [x[::-1] for x in xs]
    answers = [[x] * 2 + [t] * 2 for x, t in zip(xs, targets)]
    res = RepetitionMonitor()(make_batch(np.zeros((40, 4)), answers=answers, prompts=prompts,
                                         targets=targets), CTX)
    assert res.metrics["echo_null_rate"] == pytest.approx(0.25)
    assert res.metrics["wrong_echo_rate"] == pytest.approx(0.5)
    assert res.metrics["echo_rate"] == pytest.approx((60 + 40) / 160)
    assert "wrong_echo_rate" in [a.metric for a in res.alerts]
    # "74" is inside the longer digit run "745": not an echo.
    res = RepetitionMonitor()(make_batch(np.zeros((1, 4)), answers=[["74"] * 4],
                                         prompts=["R>745d="]), CTX)
    assert res.metrics["echo_rate"] == 0.0
