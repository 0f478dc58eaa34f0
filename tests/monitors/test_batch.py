"""RolloutBatch: validation at construction, layouts, derived group views."""

from __future__ import annotations

import numpy as np
import pytest

from zpd.monitors import MonitorInputError, RolloutBatch


def _flat(**over):
    kw = dict(
        item_ids=[3, 3, 5, 5],
        group=[0, 0, 1, 1],
        rewards=[1.0, 0.0, 0.0, 0.0],
        completions=["a", "b", "c", "d"],
        answers=["1", None, "2", "2"],
        lengths=[3, 4, 5, 6],
    )
    kw.update(over)
    return RolloutBatch(**kw)


def test_valid_batch_is_read_only_and_groups_are_derived() -> None:
    b = _flat()
    assert b.num_rollouts == 4 and b.num_groups == 2
    assert b.group_item_ids.tolist() == [3, 5]
    assert b.group_sizes.tolist() == [2, 2]
    assert b.group_mean(b.rewards).tolist() == [0.5, 0.0]
    with pytest.raises(ValueError):
        b.rewards[0] = 0.5  # read-only copy


def test_input_arrays_are_copied() -> None:
    rewards = np.array([1.0, 0.0, 0.0, 0.0])
    b = _flat(rewards=rewards)
    rewards[0] = 0.0
    assert b.rewards[0] == 1.0


@pytest.mark.parametrize(
    "over, fragment",
    [
        ({"rewards": [1.5, 0, 0, 0]}, "[0, 1]"),
        ({"rewards": [np.nan, 0, 0, 0]}, "finite"),
        ({"rewards": [1.0, 0, 0]}, "expected 4"),
        ({"item_ids": [3, 4, 5, 5]}, "same item id"),
        ({"item_ids": [3.0, 3.0, 5.0, 5.0]}, "ints"),
        ({"item_ids": [-1, -1, 5, 5]}, "non-negative"),
        ({"answers": ["1", 2, "2", "2"]}, "str or None"),
        ({"completions": ["a", None, "c", "d"]}, "str"),
        ({"completions": "abcd"}, "not one string"),
        ({"lengths": [3, -4, 5, 6]}, ">= 0"),
        ({"lengths": None}, "lengths"),
        ({"truncated": [0, 2, 0, 0]}, "bools"),
        ({"formats": ["x", "y"]}, "expected 4"),
        ({"advantages": [0.1, np.inf, 0, 0]}, "finite"),
        ({"logprobs": [[0.5], [-1.0], [-1.0], [-1.0]]}, "<= 0"),
        ({"token_entropy": [[-0.5], [1.0], [1.0], [1.0]]}, ">= 0"),
        ({"token_mask": np.ones((4, 2), bool)}, "token_mask given without"),
    ],
)
def test_bad_input_raises_clear_value_error(over: dict, fragment: str) -> None:
    with pytest.raises(MonitorInputError, match=None) as exc:
        _flat(**over)
    assert isinstance(exc.value, ValueError)
    assert fragment in str(exc.value)


def test_empty_batch_is_rejected() -> None:
    with pytest.raises(MonitorInputError, match="at least one"):
        RolloutBatch([], [], [], [], [], lengths=[])


def test_lengths_default_from_completion_ids_and_padded_ids_are_cut() -> None:
    b = _flat(lengths=None, completion_ids=[[1, 2], [3], [4, 5, 6], []])
    assert b.lengths.tolist() == [2, 1, 3, 0]
    padded = np.array([[1, 2, 0], [3, 0, 0], [4, 5, 6], [0, 0, 0]])
    b2 = _flat(lengths=[2, 1, 3, 0], completion_ids=padded)
    assert [r.tolist() for r in b2.completion_ids] == [[1, 2], [3], [4, 5, 6], []]


def test_token_fields_ragged_and_padded_agree() -> None:
    ragged = [[-0.1, -0.2, -0.3], [-1.0], [-0.5, -0.5], [-2.0, -0.1, -0.1, -0.1]]
    lengths = [3, 1, 2, 4]
    b1 = _flat(lengths=lengths, logprobs=ragged)
    padded = np.full((4, 4), np.nan)  # padding may hold anything: it is masked out
    for i, r in enumerate(ragged):
        padded[i, : len(r)] = r
    b2 = _flat(lengths=lengths, logprobs=padded)
    assert np.array_equal(b1.token_mask, b2.token_mask)
    assert np.array_equal(b1.logprobs, b2.logprobs)
    assert b1.token_mask.sum() == sum(lengths)
    assert np.all(b2.logprobs[~b2.token_mask] == 0.0)


def test_token_fields_must_share_their_mask() -> None:
    with pytest.raises(MonitorInputError, match="different set of valid tokens"):
        _flat(logprobs=[[-0.1], [-0.1, -0.2], [-0.1], [-0.1]],
              base_logprobs=[[-0.1, -0.2], [-0.1], [-0.1], [-0.1]])
    with pytest.raises(MonitorInputError, match="shape"):
        _flat(logprobs=[[-0.1], [-0.1], [-0.1], [-0.1]],
              base_logprobs=[[-0.1, -0.2], [-0.1], [-0.1], [-0.1]])


def test_padded_token_field_shorter_than_lengths_needs_a_mask() -> None:
    with pytest.raises(MonitorInputError, match="token_mask"):
        _flat(lengths=[3, 4, 5, 6], logprobs=-np.ones((4, 2)))
    mask = np.ones((4, 2), bool)
    b = _flat(lengths=[3, 4, 5, 6], logprobs=-np.ones((4, 2)), token_mask=mask)
    assert b.token_mask.shape == (4, 2)


def test_from_groups_layout_is_group_major() -> None:
    rewards = np.array([[1, 0, 0], [0, 0, 1]], dtype=float)
    b = RolloutBatch.from_groups(
        [7, 9], rewards, [["x"] * 3, ["y"] * 3], [["1", "2", "3"], ["4", "5", "6"]],
        [[1, 2, 3], [4, 5, 6]], prompts=["p7", "p9"], targets=["1", "6"],
        truncated=[[0, 0, 1], [0, 0, 0]], logprobs=-np.ones((2, 3, 6)),
    )
    assert b.item_ids.tolist() == [7, 7, 7, 9, 9, 9]
    assert b.group.tolist() == [0, 0, 0, 1, 1, 1]
    assert b.answers == ("1", "2", "3", "4", "5", "6")
    assert b.prompts == ("p7",) * 3 + ("p9",) * 3
    assert b.truncated.tolist() == [False, False, True, False, False, False]
    assert b.logprobs.shape == (6, 6) and b.token_mask.sum() == 21


def test_from_groups_rejects_bad_shapes_and_unknown_fields() -> None:
    with pytest.raises(MonitorInputError, match=r"\(B, G\)"):
        RolloutBatch.from_groups([1, 2], np.zeros(2), [], [])
    with pytest.raises(MonitorInputError, match="unknown field"):
        RolloutBatch.from_groups([1], np.zeros((1, 2)), [["a", "b"]], [["1", "2"]], [[1, 1]],
                                 colour=[["r", "g"]])
    with pytest.raises(MonitorInputError, match="2 groups of 2"):
        RolloutBatch.from_groups([1, 2], np.zeros((2, 2)), [["a", "b"], ["c"]],
                                 [["1", "2"], ["3", "4"]], [[1, 1], [1, 1]])


def test_one_item_may_appear_in_two_groups() -> None:
    b = _flat(item_ids=[3, 3, 3, 3])
    assert b.num_groups == 2 and b.group_item_ids.tolist() == [3, 3]
