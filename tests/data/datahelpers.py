"""Helpers of the data-tool tests: tiny char-level GPT-2 models saved locally, small datasets.

Models are built from a config (nothing is downloaded): GPT2Config(n_layer=2, n_embd=32, n_head=2)
with a character tokenizer (tokenizers BPE without merges) wrapped in PreTrainedTokenizerFast.
"""

from __future__ import annotations

import json
from pathlib import Path

CHARS = list("0123456789+-=*/ abcdefghijklmnopqrstuvwxyz\n")


def make_tokenizer():
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    for c in CHARS:
        vocab[c] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>", bos_token="<eos>")


def make_model(path: Path, seed: int = 0, n_positions: int = 64) -> Path:
    """Save a randomly initialised tiny GPT-2 + char tokenizer to ``path``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = make_tokenizer()
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=n_positions, n_embd=32, n_layer=2,
                     n_head=2, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id)
    model = GPT2LMHeadModel(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def addition_rows(n: int, seed: int = 0) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b = int(rng.integers(0, 100)), int(rng.integers(0, 100))
        rows.append({"prompt": f"{a}+{b}=", "answer": str(a + b), "id": f"q{i}",
                     "category": "small" if a + b < 100 else "large"})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
