"""Char-level tokenizer of the lab: one fixed vocabulary, one id per character.

What it is: ``CharTokenizer`` maps the lab's small alphabet (specials, digits, op letters, format
tags, separators) to ids and back, and writes a Hugging Face ``tokenizer.json`` (a ``tokenizers``
WordLevel model with a one-character pre-tokenizer) plus ``tokenizer_config.json`` so that
``transformers.AutoTokenizer.from_pretrained(dir)`` loads a ``PreTrainedTokenizerFast`` that
agrees with :meth:`CharTokenizer.encode` id for id.

What it is not: a general text tokenizer. Characters outside the alphabet are an error here
(the HF tokenizer maps them to ``unk``). No token is added implicitly: ``encode`` never prepends
``bos``; the lab's prompts start with their op character.

Special characters (kept printable so that strings stay readable in logs):
``_`` pad (id 0), ``^`` bos (id 1), ``$`` eos (id 2), ``~`` unk (id 3).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from zpd.core.atomic import atomic_write_bytes, atomic_write_json

PAD, BOS, EOS, UNK = "_", "^", "$", "~"
SPECIALS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
# Order matters: it fixes the ids. Append only (old checkpoints keep their meaning).
ALPHABET: str = "0123456789" + "RST" + "O" + "A" + "drsc?" + "+,|=>:"
VOCAB: tuple[str, ...] = SPECIALS + tuple(ALPHABET)
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


class TokenizerError(ValueError):
    """Bad input to the lab tokenizer (unknown character, id out of range, bad directory)."""


class CharTokenizer:
    """One id per character of a fixed vocabulary (default: the lab's ``VOCAB``)."""

    pad_id: int = 0
    """Id of ``_`` (left padding of prompts, filler after eos)."""
    bos_id: int = 1
    """Id of ``^`` (defined for Hugging Face; the lab never adds it implicitly)."""
    eos_id: int = 2
    """Id of ``$`` (ends every completion)."""
    unk_id: int = 3
    """Id of ``~`` (what Hugging Face maps unknown characters to)."""

    def __init__(self, vocab: Sequence[str] = VOCAB) -> None:
        vocab = tuple(vocab)
        if len(set(vocab)) != len(vocab) or any(len(c) != 1 for c in vocab):
            raise TokenizerError("vocab must be distinct single characters")
        if vocab[: len(SPECIALS)] != SPECIALS:
            raise TokenizerError(f"vocab must start with the specials {SPECIALS!r}")
        self.vocab: tuple[str, ...] = vocab
        self._stoi = {c: i for i, c in enumerate(vocab)}

    @property
    def vocab_size(self) -> int:
        """Number of ids (specials included)."""
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; raises :class:`TokenizerError` on unknown chars."""
        try:
            return [self._stoi[c] for c in text]
        except KeyError as exc:
            raise TokenizerError(
                f"character {exc.args[0]!r} is not in the lab vocabulary {''.join(self.vocab)!r}; "
                "strip it or extend VOCAB (append only)"
            ) from None

    def decode(self, ids: Iterable[int], *, skip_pad: bool = True, stop_at_eos: bool = False) -> str:
        """String of ``ids``; pads dropped unless ``skip_pad=False``; cut after eos if asked."""
        out: list[str] = []
        n = len(self.vocab)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise TokenizerError(f"token id {i} out of range [0, {n}); wrong tokenizer?")
            if i == self.pad_id and skip_pad:
                continue
            out.append(self.vocab[i])
            if stop_at_eos and i == self.eos_id:
                break
        return "".join(out)

    def hf_tokenizer_json(self) -> str:
        """The ``tokenizer.json`` text (tokenizers WordLevel + one-char Split pre-tokenizer)."""
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

        tok = Tokenizer(models.WordLevel(vocab=dict(self._stoi), unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()
        tok.add_special_tokens(list(SPECIALS))
        return str(tok.to_str())

    def save(self, directory: str | os.PathLike[str], *, model_max_length: int = 1024) -> None:
        """Write ``tokenizer.json`` + ``tokenizer_config.json`` into ``directory`` (atomic)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(d / TOKENIZER_FILE, self.hf_tokenizer_json().encode())
        atomic_write_json(
            d / TOKENIZER_CONFIG_FILE,
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": BOS,
                "eos_token": EOS,
                "pad_token": PAD,
                "unk_token": UNK,
                "padding_side": "left",
                "model_max_length": int(model_max_length),
                "clean_up_tokenization_spaces": False,
                "add_bos_token": False,
                "add_eos_token": False,
            },
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> CharTokenizer:
        """Read the vocabulary back from ``directory/tokenizer.json`` (no pickle)."""
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise TokenizerError(f"{path} not found; save the tokenizer there first")
        spec = json.loads(path.read_text())
        try:
            stoi: dict[str, int] = spec["model"]["vocab"]
        except (KeyError, TypeError):
            raise TokenizerError(f"{path} is not a WordLevel tokenizer.json") from None
        vocab = [c for c, _ in sorted(stoi.items(), key=lambda kv: kv[1])]
        if [stoi[c] for c in vocab] != list(range(len(vocab))):
            raise TokenizerError(f"{path}: vocabulary ids are not 0..n-1")
        return cls(vocab)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
