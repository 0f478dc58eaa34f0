"""Array primitives: sort-based unique, tie-safe top-k, amortised appends."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import zpd
from zpd.core.arrays import append_rows, top_k, unique_inverse, unique_sorted

INTS = hnp.arrays(np.int64, st.integers(0, 60), elements=st.integers(-50, 50))


@settings(max_examples=50, deadline=None)
@given(INTS)
def test_unique_matches_numpy(a: np.ndarray) -> None:
    assert np.array_equal(unique_sorted(a), np.unique(a))
    u, inv = unique_inverse(a)
    assert np.array_equal(u, np.unique(a))
    assert np.array_equal(u[inv], a)


def test_top_k_picks_the_largest() -> None:
    s = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    assert sorted(top_k(s, 2).tolist()) == [1, 3]
    assert top_k(s, 0).size == 0 and top_k(s, 9).size == 5


def test_append_rows_reuses_its_buffer() -> None:
    v = np.arange(4, dtype=np.int32)
    v = append_rows(v, np.array([4], dtype=np.int32))  # first growth allocates spare room
    base = v.base
    for i in range(5, 12):
        v = append_rows(v, np.array([i], dtype=np.int32))
    assert np.array_equal(v, np.arange(12))
    assert v.base is base  # no reallocation while the spare room lasted
    m = append_rows(np.zeros((2, 3), np.float32), np.ones((1, 3), np.float32))
    assert m.shape == (3, 3) and m[2].tolist() == [1, 1, 1]


def test_many_small_arrivals_keep_the_curriculum_consistent() -> None:
    cur = zpd.Curriculum(5, seed=0, features={"category": np.zeros(5, dtype=int)})
    for i in range(40):
        new = cur.add_items(1, {"category": np.array([i % 3])})
        assert new.tolist() == [5 + i]
        ids = cur.sample(4)
        cur.update(ids, np.ones((4, 8)) * (ids[:, None] % 2))
    assert cur.num_items == 45
    sd = cur.state_dict()
    assert all(v.shape[0] == 45 for k, v in sd["arrays"].items()
               if k.startswith("tracker.") and k in ("tracker.alpha", "tracker.last"))
    est = cur.estimate(np.arange(45))
    assert np.all((est.mean >= 0) & (est.mean <= 1))
