"""Load a local Hugging Face causal LM and its tokenizer; choose a device; tokenize text.

What it is: the one place ``zpd.data`` touches ``transformers`` loading. Any causal LM directory
(``config.json`` + weights + tokenizer files) works: GPT-2, Qwen2, Llama, the lab's char-level GPT.
Nothing is downloaded (``local_files_only=True``). What it is not: a model zoo or a trainer.
"""

from __future__ import annotations

import enum
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zpd.data.errors import DataError
from zpd.data.io import parse_enum


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then CPU; anything else is passed to torch."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise DataError(f"device {device!r} is not a torch device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"device {device!r} asked for but CUDA is not available; use --device cpu")
    return dev


_DTYPES = {"auto": None, "float32": torch.float32, "float16": torch.float16,
           "bfloat16": torch.bfloat16}


class BosMode(str, enum.Enum):
    """What goes before every scored or generated sequence."""

    AUTO = "auto"
    """The tokenizer's own convention: the tokens it adds in front of a text when asked for
    special tokens (``add_bos_token``, its post-processor); nothing if it adds none, as the
    lab's tokenizer and GPT-2's do. A model saw exactly this in training."""
    ALWAYS = "always"
    """Force the BOS token (else EOS) in front, whatever the tokenizer does."""
    NEVER = "never"
    """Nothing in front (the first token of a sequence then has no probability)."""


@dataclass
class LoadedModel:
    """A causal LM in eval mode on ``device`` with its tokenizer and the directory it came from."""

    model: Any
    tokenizer: Any
    device: torch.device
    path: str
    bos: BosMode = BosMode.AUTO

    @functools.cached_property
    def prefix_ids(self) -> list[int]:
        """Token ids put before every scored or generated sequence (see :class:`BosMode`).

        With ``auto`` they are read off the tokenizer itself: the ids it puts in front of a
        probe text with special tokens on, that it does not put there with them off. Scorers
        that add tokens the model never saw in training misread everything they measure (a
        forced BOS on the lab's model raised an answer's NLL from 0.09 to 2.8 nats/token).
        """
        tok = self.tokenizer
        mode: BosMode = parse_enum(BosMode, self.bos, "bos")
        if mode is BosMode.NEVER:
            return []
        if mode is BosMode.ALWAYS:
            for tid in (tok.bos_token_id, tok.eos_token_id):
                if tid is not None:
                    return [int(tid)]
            raise DataError(f"bos='always' but the tokenizer in {self.path} has neither a BOS "
                            "nor an EOS token; use --bos auto or never")
        return tokenizer_prefix(tok)

    @property
    def max_length(self) -> int:
        """Longest sequence the model accepts (``n_positions`` / ``max_position_embeddings``)."""
        cfg = self.model.config
        for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens (batched through the fast tokenizer)."""
        if not texts:
            return []
        # verbose=False: the scorers cut over-long sequences themselves (flagged ``truncated``),
        # so the tokenizer's "will result in indexing errors" warning would be wrong here
        out = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [list(ids) for ids in out]


def tokenizer_prefix(tok: Any) -> list[int]:
    """The ids ``tok`` puts in front of a text when it adds special tokens (its BOS
    convention), found by encoding a probe both ways."""
    probe = "0"
    bare = list(tok(probe, add_special_tokens=False)["input_ids"])
    full = list(tok(probe, add_special_tokens=True)["input_ids"])
    for k in range(len(full) - len(bare) + 1):
        if full[k:k + len(bare)] == bare:
            return [int(t) for t in full[:k]]
    # the tokenizer re-tokenizes with specials on: trust its declared flag
    bos = getattr(tok, "bos_token_id", None)
    return [int(bos)] if getattr(tok, "add_bos_token", False) and bos is not None else []


def completion_only_note(path: str | os.PathLike[str]) -> str | None:
    """A warning when the model is known to have been trained with loss on completions only (the
    lab's checkpoints): it never learned to predict prompts, nor an answer at the start of a
    context, so the NLL of a prompt, the answer's NLL with no prompt, IFD and the reversed IFD say
    nothing about it. None when nothing is known."""
    cfg = Path(path) / "config.json"
    try:
        known = "zpd_gpt_config" in json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not known:
        return None
    return (f"{path} is a zpd lab checkpoint, trained with loss on completions only: it never "
            "learned to predict prompts, nor answers with no prompt in front, so nll_prompt, "
            "nll_prompt_given_answer, nll_answer (IFD's denominator), IFD and r-IFD say nothing "
            "about it (nll_answer_given_prompt does)")


def check_model_dir(path: str | os.PathLike[str]) -> Path:
    """Raise a clear error unless ``path`` is a local Hugging Face model directory."""
    p = Path(path)
    if not p.is_dir() or not (p / "config.json").exists():
        raise DataError(f"{str(p)!r} is not a Hugging Face model directory (no config.json); pass "
                        "a local directory saved with save_pretrained (nothing is downloaded)")
    try:
        json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{p / 'config.json'} is not readable JSON ({exc}); re-save the model "
                        "with save_pretrained") from None
    weights = p / "model.safetensors"
    if weights.is_file():  # read the header only: a corrupt file fails here, before any output
        from safetensors import safe_open

        try:
            with safe_open(str(weights), framework="pt") as fh:
                fh.keys()
        except Exception as exc:  # safetensors raises its own error type
            raise DataError(f"{weights} is not a readable safetensors file ({exc}); re-save the "
                            "model with save_pretrained") from None
    return p


def model_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed config.json of the model directory ``path`` (checked by :func:`check_model_dir`)."""
    cfg: dict[str, Any] = json.loads((check_model_dir(path) / "config.json").read_text(
        encoding="utf-8"))
    return cfg


def check_generation_memory(path: str | os.PathLike[str], sequences: int, tokens: int,
                            what: str = "--k x --batch-prompts") -> None:
    """Refuse, before any work, a generate call whose logits and KV cache alone would not fit
    in this machine's memory: ``sequences`` rows of up to ``tokens`` positions each."""
    cfg = model_config(path)
    vocab = int(cfg.get("vocab_size") or 50_000)
    hidden = int(cfg.get("n_embd") or cfg.get("hidden_size") or 1024)
    layers = int(cfg.get("n_layer") or cfg.get("num_hidden_layers") or 24)
    need = 4.0 * sequences * (2 * vocab + 2 * layers * hidden * tokens)  # float32 bytes
    try:
        have = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX: no check
        return
    if need > 0.8 * have:
        raise DataError(f"{what} = {sequences:,} sequences per generate call need about "
                        f"{need / 2**30:,.1f} GiB for logits and KV cache alone; this machine has "
                        f"{have / 2**30:,.1f} GiB: lower them")


def model_context(path: str | os.PathLike[str]) -> int | None:
    """Longest sequence the model in ``path`` accepts, from its config.json (None: unknown)."""
    cfg = model_config(path)
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = cfg.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device = "auto", dtype: str = "auto",
    bos: str | BosMode = "auto",
) -> LoadedModel:
    """Load any local causal LM directory and its tokenizer, in eval mode, on ``device``;
    ``bos`` says what goes before every sequence (:class:`BosMode`; default: the tokenizer's
    own convention)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = check_model_dir(path)
    mode: BosMode = parse_enum(BosMode, bos, "bos")
    if dtype not in _DTYPES:
        raise DataError(f"dtype must be one of {sorted(_DTYPES)}; got {dtype!r}")
    dev = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"no usable tokenizer in {p} ({exc}); save one with "
                        "tokenizer.save_pretrained(dir)") from None
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise DataError(f"the tokenizer in {p} has neither a pad nor an eos token; add one")
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"local_files_only": True}
    if _DTYPES[dtype] is not None:
        kwargs["dtype"] = _DTYPES[dtype]
    model = AutoModelForCausalLM.from_pretrained(str(p), **kwargs)
    model.to(dev)
    model.eval()
    fuse_activations(model)
    return LoadedModel(model=model, tokenizer=tokenizer, device=dev, path=str(p.resolve()),
                       bos=mode)


def fuse_activations(model: Any) -> int:
    """Swap GPT-2's composite tanh-GELU for torch's fused kernel; returns how many were swapped.

    ``transformers``' ``NewGELUActivation`` computes the tanh approximation of GELU from five
    elementwise ops; ``torch.nn.GELU(approximate="tanh")`` is the same function (max difference
    ~1e-6) in one kernel, which makes small models on CPU ~2x faster. Inference only: the model is
    loaded for scoring, never trained or saved by ``zpd.data``.
    """
    from transformers.activations import NewGELUActivation

    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is NewGELUActivation:
                setattr(module, name, torch.nn.GELU(approximate="tanh"))
                swapped += 1
    return swapped
