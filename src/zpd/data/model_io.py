"""Load a local Hugging Face causal LM and its tokenizer; choose a device; tokenize text.

What it is: the one place ``zpd.data`` touches ``transformers`` loading. Any causal LM directory
(``config.json`` + weights + tokenizer files) works: GPT-2, Qwen2, Llama, the lab's char-level GPT.
Nothing is downloaded (``local_files_only=True``). What it is not: a model zoo or a trainer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zpd.data.errors import DataError


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


@dataclass
class LoadedModel:
    """A causal LM in eval mode on ``device`` with its tokenizer and the directory it came from."""

    model: Any
    tokenizer: Any
    device: torch.device
    path: str

    @property
    def context_id(self) -> int | None:
        """Token placed before every scored sequence so its first token gets a probability.

        The BOS token if the tokenizer has one, else EOS (GPT-2 style), else ``None`` (then the
        first token of a sequence is not scored; counts say so).
        """
        tok = self.tokenizer
        for tid in (tok.bos_token_id, tok.eos_token_id):
            if tid is not None:
                return int(tid)
        return None

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
        out = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [list(ids) for ids in out]


def check_model_dir(path: str | os.PathLike[str]) -> Path:
    """Raise a clear error unless ``path`` is a local Hugging Face model directory."""
    p = Path(path)
    if not p.is_dir() or not (p / "config.json").exists():
        raise DataError(f"{str(p)!r} is not a Hugging Face model directory (no config.json); pass "
                        "a local directory saved with save_pretrained (nothing is downloaded)")
    return p


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device = "auto", dtype: str = "auto"
) -> LoadedModel:
    """Load any local causal LM directory and its tokenizer, in eval mode, on ``device``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = check_model_dir(path)
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
    return LoadedModel(model=model, tokenizer=tokenizer, device=dev, path=str(p.resolve()))


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
