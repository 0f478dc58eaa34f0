"""Tasks: generators honour their knobs, verifiers accept exactly the right answers, shortcut
checks fire on the shortcut and not on faithful work, pools are disjoint and seeded."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zpd.lab.tasks import (
    ALLOWED,
    BANDS,
    NUM_CATEGORIES,
    SHORTCUT_NAMES,
    Fmt,
    Item,
    Op,
    PoolConfig,
    TaskConfig,
    TaskError,
    apply_step,
    corrupt_answer,
    default_base_mix,
    extract_answer,
    format_of,
    items_to_features,
    make_items,
    make_pool,
    render_completion,
    shortcut_flags,
    training_completion,
    verify,
)
from zpd.lab.tokenizer import CharTokenizer

ALL = TaskConfig(ops=tuple(Op), formats=tuple(Fmt), digits=(1, 8), n_items=300)


def _num(lsb: str) -> int:
    return int(lsb[::-1])


def _add_item(a_msb: int, b_msb: int, fmt: str = "direct") -> Item:
    """An add item built by hand from ordinary numbers (through make_items' public fields)."""
    from zpd.lab.tasks import add_lsb, category_of

    a, b = str(a_msb)[::-1], str(b_msb)[::-1]
    ans, cols = add_lsb(a, b)
    assert category_of("add", fmt) >= 0
    tag = {"direct": "d", "reversed": "r", "scratch": "s", "carry": "c", "any": "?"}[fmt]
    return Item(f"A{a}+{b}{tag}=", ans, "add", fmt, len(a), sum(c for _, c in cols), 0, 1, (a, b))


def test_worked_examples_of_each_op() -> None:
    assert apply_step("74521", "R") == "12547"
    assert apply_step("74521", "S2") == "52174"
    assert apply_step("74521", "T3") == "07854"
    it = _add_item(47, 85)
    assert it.answer == "231" and it.n_carries == 2
    assert render_completion(it, "scratch") == "s75,48|231$"
    assert render_completion(it, "carry") == "c21,31|231$"
    assert render_completion(it, "reversed") == "r132$"
    with pytest.raises(TaskError):
        apply_step("12", "X")


def test_every_item_renders_verifies_and_encodes_in_every_allowed_format() -> None:
    tok = CharTokenizer()
    for it in make_items(ALL, 0):
        for f in ALLOWED[Op(it.op)]:
            comp = render_completion(it, f)
            tok.encode(it.prompt + comp)
            ok = verify(it, comp)
            assert ok == (1.0 if it.fmt in (f.value, "any") else 0.0), (it.prompt, comp)
            assert format_of(comp) == f.value
            if ok:
                assert not any(shortcut_flags(it, comp).values()), (it.prompt, comp)


def test_add_answers_are_true_sums_and_digit_counts_hold() -> None:
    cfg = TaskConfig(ops=("add",), digits=(1, 8), n_items=200)
    for it in make_items(cfg, 1):
        a, b = it.operands
        assert len(a) == len(b) == it.n_digits and a[-1] != "0" and b[-1] != "0"
        assert _num(it.answer) == _num(a) + _num(b)


@given(n=st.integers(1, 8), c=st.integers(0, 8), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_carry_knob_gives_exactly_c_carries(n: int, c: int, seed: int) -> None:
    cfg = TaskConfig(digits=(n, n), carries=(c, c), n_items=3)
    for it in make_items(cfg, seed):
        assert it.n_carries == min(c, n)
        a, b = it.operands
        assert _num(it.answer) == _num(a) + _num(b)


def test_wrong_answers_and_wrong_formats_score_zero() -> None:
    rng = np.random.default_rng(0)
    for it in make_items(ALL, 2):
        bad = corrupt_answer(it.answer, rng)
        assert bad != it.answer
        assert verify(it, render_completion(it, None, bad)) == 0.0
    it = _add_item(47, 85, "direct")
    assert verify(it, "d231$") == 1.0
    assert verify(it, "r132$") == 0.0  # right number, format not requested
    assert verify(it, "d231") == 1.0 and verify(it, "d231$99__") == 1.0
    for junk in ("", "$", "x231$", "d$", "d2a1$", "s75,48$"):
        assert verify(it, junk) == 0.0
    any_item = _add_item(47, 85, "any")
    assert all(verify(any_item, c) == 1.0 for c in ("d231$", "r132$", "s|231$", "c|231$"))


def test_extract_answer_and_format_of() -> None:
    assert extract_answer("r132$") == "231"
    assert extract_answer("s75,48|231$") == "231"
    assert extract_answer("s75,48$") is None
    assert extract_answer("d$") is None
    assert format_of("c21|231$") == "carry" and format_of("?12$") == "none"


def test_open_op_accepts_every_valid_answer() -> None:
    assert make_items(TaskConfig(ops=("open",), digits=(12, 12), n_items=1), 0)[0].prompt[:4] == "O21:"
    cfg = TaskConfig(ops=("open",), formats=("direct",), digits=(3, 3), n_items=30)
    for it in make_items(cfg, 4):
        n, s = int(it.operands[0]), int(it.operands[1])
        assert len(it.answer) == n and sum(map(int, it.answer)) == s
        assert verify(it, "d" + it.answer[::-1] + "$") == 1.0  # a permutation is also valid
        if 0 < s < 27:
            assert verify(it, "d" + str(s % 9).zfill(3) + "$") == float(s % 9 == s)


def test_shortcut_flags_fire_on_each_shortcut() -> None:
    it = _add_item(47, 85)  # a="74", b="58", answer "231"
    assert shortcut_flags(it, "d74$")["echo_operand"]
    assert shortcut_flags(it, "d777$")["repeated_block"]
    assert shortcut_flags(it, "d1212$")["repeated_block"]
    assert not shortcut_flags(it, "d231$")["repeated_block"]
    assert shortcut_flags(it, "d22$")["ignored_carries"]  # (7+5)%10, (4+8)%10
    sc = _add_item(47, 85, "scratch")
    assert shortcut_flags(sc, "s|231$")["skipped_scratchpad"]
    assert shortcut_flags(sc, "d231$")["skipped_scratchpad"]
    assert not shortcut_flags(sc, "s75,48|231$")["skipped_scratchpad"]
    assert not shortcut_flags(it, "d231$")["skipped_scratchpad"]
    assert not shortcut_flags(it, "c06,88$")["skipped_scratchpad"]  # a format error, not a skip
    anyf = _add_item(47, 85, "any")
    assert verify(anyf, "s|231$") == 1.0 and shortcut_flags(anyf, "s|231$")["skipped_scratchpad"]
    assert not shortcut_flags(anyf, "s75,48|231$")["skipped_scratchpad"]
    ca = _add_item(47, 85, "carry")
    assert shortcut_flags(ca, "c20,30|22$")["ignored_carries"]
    no_carry = _add_item(12, 34)
    assert not shortcut_flags(no_carry, "d64$")["ignored_carries"]
    assert set(shortcut_flags(it, "d1$")) == set(SHORTCUT_NAMES)


def test_make_items_is_seeded_unique_and_excludes() -> None:
    a, b, c = make_items(ALL, 7), make_items(ALL, 7), make_items(ALL, 8)
    assert a == b and a != c
    assert [it.item_id for it in a] == list(range(len(a)))
    small = TaskConfig(ops=("rev",), formats=("direct",), digits=(1, 1), n_items=10)
    items = make_items(small, 0, unique=True)
    assert len({it.prompt for it in items}) == 10
    with pytest.raises(TaskError, match="distinct"):
        make_items(small, 0, unique=True, exclude=["R>0d="])


def test_features_shapes_and_categories() -> None:
    items = make_items(ALL, 3)
    feats = items_to_features(items)
    assert feats["category"].dtype == np.int64
    assert all(v.shape == (len(items),) for v in feats.values())
    assert feats["category"].min() >= 0 and feats["category"].max() < NUM_CATEGORIES
    n_cat = len({(it.op, it.fmt) for it in items})
    assert len(np.unique(feats["category"])) == n_cat
    assert np.array_equal(feats["n_digits"], [it.n_digits for it in items])
    with pytest.raises(TaskError):
        items_to_features([])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"digits": (3, 2)},
        {"digits": (0, 2)},
        {"ops": ("mul",)},
        {"formats": ("fancy",)},
        {"ops": ("rev",), "formats": ("carry",)},
        {"label_noise": 1.5},
        {"n_items": 0},
        {"steps": (1, 2)},
        {"any_formats": ("any",)},
        {"n_items": 2.5},
        {"weight": 0},
        {"label_noise": "0.1"},
    ],
)
def test_bad_config_raises(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TaskConfig(**kwargs)


def test_training_completion_noise_rate_and_any_formats() -> None:
    cfg = TaskConfig(ops=("add",), formats=("any",), digits=(3, 5), n_items=2000,
                     label_noise=0.5, any_formats=("direct", "carry"))
    rng = np.random.default_rng(0)
    items = make_items(cfg, 0)
    comps = [training_completion(it, cfg, rng) for it in items]
    right = np.mean([verify(it, c) for it, c in zip(items, comps)])
    assert 0.45 <= right <= 0.55
    assert {format_of(c) for c in comps} == {"direct", "carry"}
    clean = TaskConfig(**{**cfg.__dict__, "label_noise": 0.0})
    assert all(verify(it, training_completion(it, clean, rng)) == 1.0 for it in items[:200])


def test_make_pool_blocks_ids_and_disjoint_eval_sets() -> None:
    pool = make_pool(PoolConfig(), seed=0)
    assert [it.item_id for it in pool.train] == list(range(len(pool.train)))
    assert pool.band_of.shape == (len(pool.train),)
    assert np.bincount(pool.band_of, minlength=3).tolist() == [200, 200, 200]
    for b, name in enumerate(BANDS):
        lo, hi = getattr(PoolConfig(), name).digits
        nd = np.array([it.n_digits for it in pool.train])[pool.band_of == b]
        assert nd.min() >= lo and nd.max() <= hi
    train = {it.prompt for it in pool.train}
    sets = [pool.eval_band, pool.eval_hard, pool.eval_prior, pool.eval_easy]
    prompts = [{it.prompt for it in s} for s in sets]
    assert len(train) == len(pool.train)
    assert [len(p) for p in prompts] == [128, 128, 128, 128]
    assert len(set().union(train, *prompts)) == len(train) + 4 * 128  # pairwise disjoint
    trained_cats = {(it.op, it.fmt) for it in pool.train}
    assert not trained_cats & {(it.op, it.fmt) for it in pool.eval_prior}
    assert pool.features()["category"].shape == (600,)
    again = make_pool(PoolConfig(), seed=0)
    assert again.train == pool.train and make_pool(PoolConfig(), seed=1).train != pool.train


def test_default_base_mix_covers_prior_skills_and_band_but_not_hard() -> None:
    mix = default_base_mix()
    pc = PoolConfig()
    seen = {(o, f) for cfg in mix for o, f in cfg.valid_pairs()}
    for p in pc.prior:
        assert set(p.valid_pairs()) <= seen
    assert max(c.digits[1] for c in mix if Op.ADD in c.ops) < pc.hard.digits[0]
    noisy = [c for c in mix if c.label_noise > 0]
    assert noisy and all(c.digits == pc.band.digits for c in noisy)


def test_trl_dataset_and_reward_round_trip_lab_items() -> None:
    from zpd.lab import tasks
    from zpd.lab.trl_tasks import item_from_json, lab_reward, trl_dataset

    items = tasks.make_items(tasks.TaskConfig(ops=("rev", "add"), formats=("direct",),
                                              digits=(2, 3), n_items=6), seed=0)
    data = trl_dataset(items)
    assert data["prompt"] == [it.prompt for it in items] and data["zpd_id"] == list(range(6))
    assert [item_from_json(x) for x in data["lab_item"]] == items
    right = [tasks.render_completion(it).removesuffix("$") for it in items]  # TRL strips eos
    assert lab_reward(right, data["lab_item"]) == [1.0] * 6
    assert lab_reward(["d0"] * 6, data["lab_item"]) == [
        float(it.answer == "0") for it in items]
    with pytest.raises(tasks.TaskError, match="not a lab item"):
        lab_reward(["d1"], ["{}"])
