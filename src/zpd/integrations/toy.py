"""A toy verifiable task and a tiny local causal LM, for offline examples and integration tests.

What it is: a task whose items have a known difficulty ladder even for an untrained model
("gt 7 =" is solved by any digit above 7, so a random policy passes it 2/16 of the time and
"gt 0 =" 9/16), a word-level tokenizer built locally with ``tokenizers``, and a Llama-layout model
built from a config (no hub download) so that TRL, verl and plain PyTorch can load it from a folder.

What it is not: a benchmark or a model worth training for real; the lab (``zpd.lab``) has the
serious synthetic tasks. Needs the ``lab`` extra (torch, transformers, tokenizers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zpd.integrations._errors import IntegrationError

DIGITS = tuple(str(d) for d in range(10))
OPS = ("gt", "lt")
SPECIAL = ("<pad>", "<eos>", "<unk>")
VOCAB = (*SPECIAL, *DIGITS, *OPS, "=")  # 16 tokens


@dataclass(frozen=True)
class ToyItem:
    """One item: answer with a digit that is greater (``gt``) or less (``lt``) than ``k``."""

    op: str
    """"gt" or "lt"."""
    k: int
    """The threshold digit, 0..9."""

    @property
    def prompt(self) -> str:
        return f"{self.op} {self.k} ="

    def solved_by(self, completion: str) -> bool:
        """True when the first word of ``completion`` is a digit on the right side of ``k``."""
        words = completion.split()
        if not words or words[0] not in DIGITS:
            return False
        d = int(words[0])
        return d > self.k if self.op == "gt" else d < self.k


def toy_items() -> list[ToyItem]:
    """The 18 items of the ladder: gt 0..8 and lt 1..9 (each has at least one right answer)."""
    return [ToyItem("gt", k) for k in range(9)] + [ToyItem("lt", k) for k in range(1, 10)]


def random_pass_rate(items: list[ToyItem]) -> np.ndarray:
    """Pass rate of a policy that emits a uniformly random token first: (n_items,)."""
    n_right = np.array([9 - it.k if it.op == "gt" else it.k for it in items], dtype=float)
    return n_right / len(VOCAB)


def toy_rows(items: list[ToyItem] | None = None) -> list[dict[str, object]]:
    """Dataset rows ``{"prompt", "zpd_id", "op", "k"}``; ``zpd_id`` is the row index (item id)."""
    items = toy_items() if items is None else items
    return [
        {"prompt": it.prompt, "zpd_id": i, "op": it.op, "k": it.k} for i, it in enumerate(items)
    ]


def toy_verl_rows(items: list[ToyItem] | None = None) -> list[dict[str, object]]:
    """Rows in verl's RL dataset layout (chat prompt, ``extra_info.index`` = item id)."""
    items = toy_items() if items is None else items
    return [
        {
            "data_source": "zpd_toy",
            "prompt": [{"role": "user", "content": it.prompt}],
            "ability": "toy",
            "reward_model": {"style": "rule", "ground_truth": f"{it.op} {it.k}"},
            "extra_info": {"index": i, "op": it.op, "k": it.k},
        }
        for i, it in enumerate(items)
    ]


def toy_reward(completions: list[str], op: list[str], k: list[int], **_: object) -> list[float]:
    """A TRL-style reward function: 1.0 when the completion solves its item, else 0.0."""
    if not (len(completions) == len(op) == len(k)):
        raise IntegrationError(
            f"toy_reward got {len(completions)} completions but {len(op)} ops and {len(k)} "
            "thresholds; pass the dataset's 'op' and 'k' columns alongside the completions"
        )
    return [float(ToyItem(o, int(t)).solved_by(c)) for c, o, t in zip(completions, op, k)]


def build_tiny_model(path: str | Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Build a tiny Llama-layout causal LM and word-level tokenizer from a config; save to ``path``.

    Returns ``path``. Nothing is downloaded. ``hidden`` and ``layers`` must be positive and
    ``hidden`` even (2 attention heads).
    """
    if hidden <= 0 or hidden % 2 or layers <= 0:
        raise IntegrationError(
            f"build_tiny_model needs an even hidden > 0 and layers > 0, got hidden={hidden}, "
            f"layers={layers}"
        )
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    vocab = {tok: i for i, tok in enumerate(VOCAB)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    config = LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
        max_position_embeddings=64, tie_word_embeddings=True,
        pad_token_id=vocab["<pad>"], eos_token_id=vocab["<eos>"], bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = vocab["<pad>"]
    model.generation_config.eos_token_id = vocab["<eos>"]
    model.save_pretrained(path)
    # verl renders chat messages; the toy template is the plain concatenation of the contents
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tokenizer.save_pretrained(path)
    _pin_tokenizer_class(path / "tokenizer_config.json")
    return path


def _pin_tokenizer_class(config_file: Path) -> None:
    """Name the generic fast tokenizer class, which transformers 4.x (verl's) and 5.x both load.

    transformers 5 writes "TokenizersBackend", a class 4.x does not know.
    """
    import json

    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_file.write_text(json.dumps(config, indent=2))


def sample_completions(model: object, tokenizer: object, prompts: list[str], n: int,
                       max_new_tokens: int = 3, seed: int = 0) -> list[list[str]]:
    """``n`` sampled completions per prompt from a causal LM (temperature 1): [prompt][sample]."""
    import torch

    torch.manual_seed(seed)
    tok = tokenizer
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left")  # type: ignore[operator]
    with torch.no_grad():
        out = model.generate(  # type: ignore[attr-defined]
            **enc, do_sample=True, top_k=0, top_p=1.0, num_return_sequences=n,
            max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,  # type: ignore[attr-defined]
        )  # (len(prompts) * n, P + T)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)  # type: ignore[attr-defined]
    return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]
