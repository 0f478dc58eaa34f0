"""Minimal LoRA adapters for gradient features of large models (LESS's setting).

What it is: :func:`add_lora` freezes a causal LM and wraps its projection layers (``nn.Linear``
or ``transformers``' GPT-2 ``Conv1D``) with low-rank adapters ``W x + (alpha / r) B A x`` of Hu et
al., "LoRA" (arXiv 2106.09685); ``B`` starts at zero so the wrapped model computes exactly what
the base did. LESS (arXiv 2402.04333) takes its gradient features from such adapters after a short
warm-up, so the feature size is the adapters' (~1% of the model), not the model's.
:func:`save_lora` / :func:`load_lora` keep the adapter weights in safetensors beside a JSON config.
What it is not: PEFT (no merging, dropout or adapter zoo); use ``peft`` for training with LoRA.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zpd.core.atomic import atomic_write_bytes, atomic_write_json
from zpd.data.errors import DataError

LORA_WEIGHTS = "lora.safetensors"
LORA_CONFIG = "lora.json"


@dataclass(frozen=True)
class LoraConfig:
    """Shape of the adapters."""

    r: int = 8
    """Rank of each adapter."""
    alpha: float = 16.0
    """Scale numerator: the update is (alpha / r) B A x."""
    targets: tuple[str, ...] = ("c_attn", "q_proj", "k_proj", "v_proj")
    """Module-name suffixes to adapt (GPT-2 ``c_attn``; Llama/Qwen ``q_proj``, ``v_proj``...)."""
    seed: int = 0
    """Seed of the A initialisation."""

    def __post_init__(self) -> None:
        if self.r < 1 or not self.alpha > 0 or not self.targets:
            raise DataError(f"need r >= 1, alpha > 0 and some targets; got {self}")


class LoraLayer(nn.Module):
    """A frozen linear map plus a trainable low-rank update."""

    def __init__(self, base: nn.Module, r: int, alpha: float, generator: torch.Generator):
        super().__init__()
        weight = base.weight
        # nn.Linear stores (out, in); GPT-2's Conv1D stores (in, out)
        in_f, out_f = ((weight.shape[1], weight.shape[0]) if isinstance(base, nn.Linear)
                       else (weight.shape[0], weight.shape[1]))
        self.base = base
        a = torch.randn(r, in_f, generator=generator) / math.sqrt(in_f)
        self.lora_A = nn.Parameter(a.to(weight.device, weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(out_f, r, device=weight.device, dtype=weight.dtype))
        self.scale = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


def add_lora(model: Any, config: LoraConfig | None = None) -> list[str]:
    """Freeze ``model`` and wrap every target layer; returns the wrapped module names."""
    cfg = config or LoraConfig()
    for p in model.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(cfg.seed)
    wrapped = []
    for name, module in list(model.named_modules()):
        if not name.endswith(cfg.targets) or isinstance(module, LoraLayer):
            continue
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoraLayer(module, cfg.r, cfg.alpha, gen))
        wrapped.append(name)
    if not wrapped:
        raise DataError(f"no layer of the model matches the LoRA targets {cfg.targets}")
    return wrapped


def lora_state(model: Any) -> dict[str, torch.Tensor]:
    """The adapter weights, keyed by parameter name."""
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters()
            if n.endswith(("lora_A", "lora_B"))}


def save_lora(model: Any, config: LoraConfig, directory: str | os.PathLike[str]) -> None:
    """Write the adapters (safetensors) and their config (JSON), each atomically."""
    from safetensors.torch import save

    d = Path(directory)
    atomic_write_bytes(d / LORA_WEIGHTS, save(lora_state(model)))
    atomic_write_json(d / LORA_CONFIG, {**asdict(config), "targets": list(config.targets)})


def load_lora(model: Any, directory: str | os.PathLike[str]) -> LoraConfig:
    """Wrap ``model`` as :func:`save_lora` described it and load the adapter weights."""
    from safetensors.torch import load_file

    d = Path(directory)
    if not (d / LORA_CONFIG).exists():
        raise DataError(f"{d} has no {LORA_CONFIG}; it holds no LoRA adapters")
    raw = json.loads((d / LORA_CONFIG).read_text(encoding="utf-8"))
    cfg = LoraConfig(r=int(raw["r"]), alpha=float(raw["alpha"]), targets=tuple(raw["targets"]),
                     seed=int(raw["seed"]))
    add_lora(model, cfg)
    state = load_file(str(d / LORA_WEIGHTS))
    params = dict(model.named_parameters())
    missing = [k for k in params if k.endswith(("lora_A", "lora_B")) and k not in state]
    if missing:
        raise DataError(f"{d / LORA_WEIGHTS} lacks adapters {missing[:3]}; wrong base model?")
    with torch.no_grad():
        for k, v in state.items():
            params[k].copy_(v)
    return cfg
