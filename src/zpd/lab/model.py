"""A tiny char-level GPT in the nanoGPT spirit, stored as a Hugging Face GPT-2 checkpoint.

What it is: ``GPTConfig`` (presets ``tiny`` ~0.1M, ``small`` ~0.6M (default), ``base`` ~2.7M
parameters), ``GPT`` (learned positions, pre-LayerNorm, exact GELU, tied embeddings, biases: the
GPT-2 architecture of Radford et al. 2019, parameter names identical to
``transformers.GPT2LMHeadModel``), batched KV-cache sampling (:func:`generate`), per-token log
probabilities of given completions (:func:`sequence_logprobs`, for GRPO and KL), and
:func:`save_pretrained` / :func:`load_pretrained` writing ``config.json`` (``model_type: gpt2``),
``model.safetensors`` and the tokenizer files, so that ``transformers.AutoModelForCausalLM`` (and
through it TRL, verl, vLLM) loads the very same model.

Ragged prompts are **left-padded** with ``pad_id``; each row's positions count its real tokens
only (position = number of real tokens before it), pads are masked out as attention keys, which
is what Hugging Face ``generate`` does with a left-padded batch and an attention mask. So a
prompt's completion does not depend on the other prompts in its batch.

What it is not: a trainer (see ``pretrain``/``rl``) or a general model zoo. Dropout is supported
for pretraining but off by default.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zpd.core.atomic import atomic_write_bytes, atomic_write_json

from .tokenizer import VOCAB, CharTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# GPT-2 stores these as Conv1D (in, out); we use nn.Linear (out, in) and transpose on save/load.
_CONV1D_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                    "mlp.c_proj.weight")


class ModelError(ValueError):
    """Bad model configuration, input or checkpoint; the message says what to change."""


@dataclass(frozen=True)
class GPTConfig:
    """Shape of the GPT (Hugging Face ``GPT2Config`` fields in brackets)."""

    vocab_size: int = len(VOCAB)
    """Number of token ids [vocab_size]."""
    block_size: int = 96
    """Maximum sequence length, prompt + completion [n_positions]."""
    n_layer: int = 3
    """Transformer blocks [n_layer]."""
    n_head: int = 4
    """Attention heads; must divide ``n_embd`` [n_head]."""
    n_embd: int = 128
    """Width of the residual stream [n_embd]."""
    dropout: float = 0.0
    """Dropout on embeddings, attention output and MLP output (pretraining only)."""

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"GPTConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ModelError(f"n_head={self.n_head} must divide n_embd={self.n_embd}")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def preset(cls, name: str, **overrides: object) -> GPTConfig:
        """``tiny`` (~0.1M, tests), ``small`` (~0.6M, default), ``base`` (~2.7M)."""
        if name not in PRESETS:
            raise ModelError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})  # type: ignore[arg-type]

    def to_hf_dict(self, tokenizer: CharTokenizer) -> dict[str, object]:
        """The ``config.json`` content for ``transformers.GPT2LMHeadModel``."""
        return {
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": self.vocab_size,
            "n_positions": self.block_size,
            "n_ctx": self.block_size,
            "n_embd": self.n_embd,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_inner": None,
            "activation_function": "gelu",
            "resid_pdrop": self.dropout,
            "embd_pdrop": self.dropout,
            "attn_pdrop": 0.0,
            "layer_norm_epsilon": 1e-5,
            "initializer_range": 0.02,
            "scale_attn_weights": True,
            "scale_attn_by_inverse_layer_idx": False,
            "reorder_and_upcast_attn": False,
            "use_cache": True,
            "tie_word_embeddings": True,
            "bos_token_id": tokenizer.bos_id,
            "eos_token_id": tokenizer.eos_id,
            "pad_token_id": tokenizer.pad_id,
            "torch_dtype": "float32",
        }

    @classmethod
    def from_hf_dict(cls, d: dict[str, object]) -> GPTConfig:
        """Inverse of :meth:`to_hf_dict`; rejects GPT-2 variants this GPT does not implement."""
        if d.get("model_type") != "gpt2":
            raise ModelError(f"config.json model_type is {d.get('model_type')!r}, expected 'gpt2'")
        if d.get("activation_function", "gelu") != "gelu" or d.get("n_inner") not in (None,):
            raise ModelError("only activation_function='gelu' and n_inner=null are supported")
        if d.get("scale_attn_by_inverse_layer_idx") or not d.get("tie_word_embeddings", True):
            raise ModelError("only tied embeddings and plain 1/sqrt(d) attention are supported")
        return cls(
            vocab_size=int(d["vocab_size"]),  # type: ignore[call-overload]
            block_size=int(d["n_positions"]),  # type: ignore[call-overload]
            n_layer=int(d["n_layer"]),  # type: ignore[call-overload]
            n_head=int(d["n_head"]),  # type: ignore[call-overload]
            n_embd=int(d["n_embd"]),  # type: ignore[call-overload]
        )


PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 2, "n_head": 2, "n_embd": 64},
    "small": {"n_layer": 3, "n_head": 4, "n_embd": 128},
    "base": {"n_layer": 6, "n_head": 6, "n_embd": 192},
}


# ----------------------------------------------------------------------------------------------
# The model


class KVCache:
    """Preallocated keys/values per layer: ``k[l]``, ``v[l]`` are (B, H, T_max, hd)."""

    def __init__(self, cfg: GPTConfig, batch: int, t_max: int, device: torch.device,
                 dtype: torch.dtype) -> None:
        hd = cfg.n_embd // cfg.n_head
        shape = (batch, cfg.n_head, t_max, hd)
        self.k = [torch.empty(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)]
        self.v = [torch.empty(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)]


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None, t0: int = 0) -> torch.Tensor:
        """``x`` (B, T, C); ``mask`` bool (B, 1, T, T_keys) or None for plain causal.
        With ``cache``, keys/values are written at [t0, t0+T) and attention spans [0, t0+T)."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, -1).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, T, self.n_head, -1).transpose(1, 2)
        v = v.view(B, T, self.n_head, -1).transpose(1, 2)
        if cache is not None:
            cache[0][:, :, t0 : t0 + T] = k
            cache[1][:, :, t0 : t0 + T] = v
            k, v = cache[0][:, :, : t0 + T], cache[1][:, :, : t0 + T]
        causal = mask is None and T > 1
        if mask is None and cache is not None and t0 > 0 and T > 1:
            raise ModelError("chunked prefill after t0 > 0 needs an explicit mask")
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward, width 4C, exact GELU."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=1e-5)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None, t0: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, cache, t0)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """GPT-2 architecture with Hugging Face parameter names (``transformer.h.0.attn.c_attn``…)."""

    def __init__(self, config: GPTConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else GPTConfig()
        cfg = self.config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(cfg.vocab_size, cfg.n_embd),
                "wpe": nn.Embedding(cfg.block_size, cfg.n_embd),
                "drop": nn.Dropout(cfg.dropout),
                "h": nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
                "ln_f": nn.LayerNorm(cfg.n_embd, eps=1e-5),
            }
        )
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight  # tied, as in GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scaled init of residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """Trainable parameters (tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    def hidden(self, idx: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None,
               cache: KVCache | None = None, t0: int = 0) -> torch.Tensor:
        """Final hidden states (B, T, C) of tokens ``idx`` (B, T) at positions ``pos``."""
        if int(pos.max()) >= self.config.block_size:
            raise ModelError(
                f"position {int(pos.max())} exceeds block_size={self.config.block_size}; "
                "shorten prompt + max_new_tokens or use a larger block_size"
            )
        tr = self.transformer
        x = tr["drop"](tr["wte"](idx) + tr["wpe"](pos))  # (B, T, C)
        for i, block in enumerate(tr["h"]):
            x = block(x, mask, None if cache is None else (cache.k[i], cache.v[i]), t0)
        return tr["ln_f"](x)  # type: ignore[no-any-return]

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) of ``idx`` (B, T), and the mean cross-entropy against ``targets``
        (B, T) if given (target ``-1`` = ignored, as in nanoGPT). ``attention_mask`` (B, T),
        1 = real token, 0 = left pad: positions then count real tokens only."""
        pos, mask = positions_and_mask(idx, attention_mask)
        logits = self.lm_head(self.hidden(idx, pos, mask))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                   ignore_index=-1)
        return logits, loss


def positions_and_mask(idx: torch.Tensor, attention_mask: torch.Tensor | None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Positions (B, T) and a bool attention mask (B, 1, T, T) (None = plain causal).

    Each query sees earlier real tokens and itself (itself so that pad rows never see an empty
    key set, which would turn SDPA's softmax into NaN)."""
    B, T = idx.shape
    if attention_mask is None or bool(attention_mask.all()):
        pos = torch.arange(T, device=idx.device).expand(B, T)
        return pos, None
    real = attention_mask.to(torch.bool)  # (B, T)
    pos = (real.long().cumsum(1) - 1).clamp(min=0)  # (B, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()  # (T, T)
    eye = torch.eye(T, dtype=torch.bool, device=idx.device)
    mask = causal & (real[:, None, :] | eye)  # (B, T, T)
    return pos, mask[:, None]


# ----------------------------------------------------------------------------------------------
# Batched sampling with a KV cache


def left_pad(prompts: list[list[int]], pad_id: int, device: torch.device | str = "cpu"
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token lists into ids (B, T) and a 0/1 attention mask (B, T)."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ModelError("prompts must be a non-empty list of non-empty token lists")
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (T - len(p)) + list(p) for p in prompts], dtype=torch.long)
    am = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    return ids.to(device), am.to(device)  # (B, T), (B, T)


def _pick(logits: torch.Tensor, temperature: float, greedy: bool,
          generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Next token (B,) and its log-probability (B,) under softmax(logits / temperature)."""
    logp = torch.log_softmax(logits / (1.0 if greedy else temperature), dim=-1)  # (B, V)
    if greedy:
        tok = logp.argmax(dim=-1)
    else:
        tok = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
    return tok, logp.gather(1, tok[:, None]).squeeze(1)


@torch.no_grad()
def generate(
    model: GPT,
    prompts: list[list[int]],
    max_new_tokens: int,
    temperature: float = 1.0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    *,
    eos_id: int = CharTokenizer.eos_id,
    pad_id: int = CharTokenizer.pad_id,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample completions for a batch of ragged prompts (left-padded, KV cache, SDPA).

    Returns ``completion_ids`` (B, T) with ``pad_id`` after each row's eos, ``logprobs`` (B, T)
    of the chosen tokens under softmax(logits / temperature) (greedy: temperature 1), 0 at pads,
    and ``lengths`` (B,) = tokens up to and including eos (``T <= max_new_tokens``: the batch
    stops as soon as every row has emitted eos)."""
    if max_new_tokens < 1 or (not greedy and not temperature > 0):
        raise ModelError("max_new_tokens must be >= 1 and temperature > 0")
    dev = next(model.parameters()).device
    idx, am = left_pad(prompts, pad_id, dev)  # (B, Tp)
    B, Tp = idx.shape
    t_max = Tp + max_new_tokens
    padded = not bool(am.all())
    pos, mask = positions_and_mask(idx, am)
    key_ok = torch.ones(B, 1, 1, t_max, dtype=torch.bool, device=dev)
    key_ok[:, 0, 0, :Tp] = am.bool()
    cache = KVCache(model.config, B, t_max, dev, next(model.parameters()).dtype)
    was_training = model.training
    model.eval()
    try:
        h = model.hidden(idx, pos, mask, cache, 0)[:, -1]  # (B, C)
        next_pos = am.sum(1)  # (B,)
        toks, lps = [], []
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        lengths = torch.zeros(B, dtype=torch.long, device=dev)
        for t in range(max_new_tokens):
            tok, lp = _pick(model.lm_head(h), temperature, greedy, generator)  # (B,), (B,)
            toks.append(torch.where(done, pad_id, tok))
            lps.append(torch.where(done, 0.0, lp))
            lengths += (~done).long()
            done = done | (tok == eos_id)
            if bool(done.all()) or t == max_new_tokens - 1:
                break
            step_mask = key_ok[:, :, :, : Tp + t + 1] if padded else None
            h = model.hidden(tok[:, None], next_pos[:, None], step_mask, cache, Tp + t)[:, -1]
            next_pos = next_pos + 1
    finally:
        model.train(was_training)
    return torch.stack(toks, 1), torch.stack(lps, 1), lengths  # (B, T), (B, T), (B,)


def sequence_logprobs(
    model: GPT,
    prompt_ids: torch.Tensor,
    completion_ids: torch.Tensor,
    mask: torch.Tensor,
    temperature: float = 1.0,
    pad_id: int = CharTokenizer.pad_id,
) -> torch.Tensor:
    """Per-token log-probabilities (B, T) of ``completion_ids`` (B, T) after left-padded
    ``prompt_ids`` (B, Tp) (pads = ``pad_id``), under softmax(logits / temperature); 0 where
    ``mask`` (B, T) is 0. Differentiable (use for the GRPO loss and the KL to the base).

    Each row is re-laid out as [prompt, completion, right pads] so that one plain causal pass
    (no attention mask, SDPA's fast path) gives exactly the left-padded, masked result."""
    if prompt_ids.shape[0] != completion_ids.shape[0] or completion_ids.shape != mask.shape:
        raise ModelError("prompt_ids (B, Tp), completion_ids (B, T) and mask (B, T) disagree")
    B, Tp = prompt_ids.shape
    T = completion_ids.shape[1]
    plen = (prompt_ids != pad_id).sum(1)  # (B,)
    if bool((plen == 0).any()):
        raise ModelError("every prompt needs at least one non-pad token")
    full = torch.cat([prompt_ids, completion_ids], 1)  # (B, Tp + T)
    src = torch.arange(Tp + T, device=full.device)[None, :] + (Tp - plen)[:, None]  # (B, Tp + T)
    seq = full.gather(1, src.clamp(max=Tp + T - 1))  # left-aligned; tail beyond is junk, unread
    logits, _ = model(seq[:, :-1])  # (B, Tp + T - 1, V)
    at = (plen - 1)[:, None] + torch.arange(T, device=full.device)[None, :]  # (B, T)
    logits = logits.gather(1, at[:, :, None].expand(B, T, logits.shape[-1])) / temperature
    logp = torch.log_softmax(logits, -1).gather(2, completion_ids[:, :, None]).squeeze(2)
    return logp * mask.to(logp.dtype)  # (B, T)


# ----------------------------------------------------------------------------------------------
# Hugging Face checkpoint directory


def _to_hf_state(model: GPT) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    out = {}
    for k, v in sd.items():
        if k == "lm_head.weight":
            continue  # tied to transformer.wte.weight; HF re-ties on load
        out[k] = (v.t() if k.endswith(_CONV1D_SUFFIXES) else v).detach().cpu().contiguous()
    return out


def save_pretrained(model: GPT, tokenizer: CharTokenizer, directory: str | os.PathLike[str]
                    ) -> Path:
    """Write ``config.json``, ``model.safetensors``, tokenizer files (each file atomic)."""
    from safetensors.torch import save as st_save

    if tokenizer.vocab_size != model.config.vocab_size:
        raise ModelError(f"tokenizer has {tokenizer.vocab_size} ids, model {model.config.vocab_size}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(d / WEIGHTS_FILE, st_save(_to_hf_state(model), metadata={"format": "pt"}))
    hf = model.config.to_hf_dict(tokenizer)
    hf["zpd_gpt_config"] = asdict(model.config)
    atomic_write_json(d / CONFIG_FILE, hf)
    atomic_write_json(d / "generation_config.json", {
        "bos_token_id": tokenizer.bos_id, "eos_token_id": tokenizer.eos_id,
        "pad_token_id": tokenizer.pad_id,
    })
    tokenizer.save(d, model_max_length=model.config.block_size)
    return d


def load_pretrained(directory: str | os.PathLike[str], device: str | torch.device = "cpu"
                    ) -> tuple[GPT, CharTokenizer]:
    """Load a directory written by :func:`save_pretrained` (or by ``GPT2LMHeadModel
    .save_pretrained`` for a compatible config, e.g. after TRL training). No pickle. The loaded
    model has dropout 0 (RL and evaluation want a deterministic policy)."""
    from safetensors.torch import load_file

    d = Path(directory)
    if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
        raise ModelError(f"{d} lacks {CONFIG_FILE} or {WEIGHTS_FILE}; not a saved lab model")
    cfg = GPTConfig.from_hf_dict(json.loads((d / CONFIG_FILE).read_text()))
    tok = CharTokenizer.load(d)
    sd = load_file(str(d / WEIGHTS_FILE))
    state = {}
    for k, v in sd.items():
        k = k if k.startswith(("transformer.", "lm_head.")) else f"transformer.{k}"
        state[k] = v.t() if k.endswith(_CONV1D_SUFFIXES) else v
    state.setdefault("lm_head.weight", state.get("transformer.wte.weight", torch.empty(0)))
    model = GPT(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        raise ModelError(f"{d}: weights do not match the config (missing {missing}, "
                         f"unexpected {unexpected})")
    return model.to(device), tok
