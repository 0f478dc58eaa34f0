"""Char tokenizer: exact round trips, clear errors, and agreement with Hugging Face loading."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zpd.lab.tasks import Fmt, Op, TaskConfig, make_items, render_completion
from zpd.lab.tokenizer import ALPHABET, SPECIALS, VOCAB, CharTokenizer, TokenizerError


def test_ids_are_fixed_and_specials_first() -> None:
    tok = CharTokenizer()
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert tok.vocab_size == len(SPECIALS) + len(ALPHABET) == len(VOCAB)
    assert tok.encode("_^$~") == [0, 1, 2, 3]
    assert tok.encode("0") == [4]


@given(st.text(alphabet=ALPHABET + "$", max_size=40))
@settings(max_examples=60, deadline=None)
def test_encode_decode_round_trip(text: str) -> None:
    tok = CharTokenizer()
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text


def test_decode_skips_pad_and_stops_at_eos() -> None:
    tok = CharTokenizer()
    ids = tok.encode("d12$9__")
    assert tok.decode(ids) == "d12$9"
    assert tok.decode(ids, skip_pad=False) == "d12$9__"
    assert tok.decode(ids, stop_at_eos=True) == "d12$"


def test_unknown_character_and_bad_id_raise() -> None:
    tok = CharTokenizer()
    with pytest.raises(TokenizerError, match="not in the lab vocabulary"):
        tok.encode("A1+x")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([tok.vocab_size])
    with pytest.raises(TokenizerError):
        CharTokenizer(("a", "b"))


def test_save_load_round_trip_and_hf_agreement(tmp_path) -> None:
    from transformers import AutoTokenizer

    tok = CharTokenizer()
    tok.save(tmp_path)
    assert CharTokenizer.load(tmp_path).vocab == tok.vocab
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    assert (hf.pad_token_id, hf.eos_token_id, hf.bos_token_id) == (0, 2, 1)
    assert hf.padding_side == "left"
    cfg = TaskConfig(ops=tuple(Op), formats=tuple(Fmt), digits=(1, 8), n_items=40)
    for it in make_items(cfg, 3):
        text = it.prompt + render_completion(it)
        assert hf(text)["input_ids"] == tok.encode(text)
        assert hf.decode(tok.encode(text)) == text
    batch = hf(["A1+2d=", "R>123d="], padding=True)["input_ids"]
    assert batch[0][:1] == [tok.pad_id] and batch[0][1:] == tok.encode("A1+2d=")


def test_load_rejects_missing_or_foreign_file(tmp_path) -> None:
    with pytest.raises(TokenizerError, match="not found"):
        CharTokenizer.load(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE"}}))
    with pytest.raises(TokenizerError, match="WordLevel"):
        CharTokenizer.load(tmp_path)
