"""LESS-style data selection: gradient similarity of training items to target examples.

What it is: a reproduction of LESS (Xia et al., "LESS: Selecting Influential Data for Targeted
Instruction Tuning", arXiv 2402.04333) for any local causal LM:

* per-example gradients of the answer-token loss; for **training** items the Adam-preconditioned
  update direction ``m' / (sqrt(v') + eps)`` with ``m' = b1 m + (1-b1) g``, ``v' = b2 v + (1-b2) g^2``
  from the optimizer state saved at a warm-up checkpoint; for **target** items the plain gradient;
* a seeded Rademacher random projection to ``proj_dim`` dimensions (entries +-1/sqrt(d), generated
  chunk by chunk so it never exists in full unless it fits the cache);
* cosine similarity; score(z) = max over target subsets j of sum over checkpoints i of
  ``lr_i * mean_{z' in subset j} cos(feature_i(z), grad_i(z'))``.

Full gradients are used on small models; on large ones restrict the features to LoRA adapters
(``zpd.data.lora``, as LESS does) or to a name pattern (``param_pattern``). :func:`warmup` makes
the checkpoints: a short Adam warm-up on a random subset (LESS: 5% for 4 epochs), saving weights,
Adam moments (safetensors, no pickle) and the learning rate after every epoch.
What it is not: a general influence-function library.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zpd.core.atomic import atomic_write_bytes, atomic_write_json
from zpd.data.errors import DataError
from zpd.data.model_io import LoadedModel, load_model

ADAM_FILE = "adam_state.safetensors"
INFO_FILE = "zpd_less.json"


@dataclass(frozen=True)
class LessConfig:
    """Settings of LESS features."""

    proj_dim: int = 2048
    """Random-projection dimension (the paper uses 8192; smaller is faster on CPU)."""
    projection: str = "sparse"
    """``sparse``: each gradient entry lands in ``sparse_nnz`` random columns with random signs
    (a sparse Johnson-Lindenstrauss transform, Kane & Nelson 2014; cost O(P * nnz) per row,
    regenerated per chunk from the seed, no matrix kept); ``rademacher``: the dense +-1/sqrt(d)
    matrix of the LESS paper (cost O(P * d), cached only when it fits ``cache_mb``)."""
    sparse_nnz: int = 8
    """Non-zeros per gradient entry of the sparse projection."""
    seed: int = 0
    """Seed of the projection."""
    beta1: float = 0.9
    """Adam beta1 (must match the warm-up optimizer)."""
    beta2: float = 0.999
    """Adam beta2."""
    eps: float = 1e-8
    """Adam epsilon."""
    param_pattern: str | None = None
    """Regex on parameter names: only matching trainable parameters give features (None: all)."""
    max_length: int | None = None
    """Cut longer sequences (None: the model's maximum)."""
    cache_mb: int = 512
    """Keep the projection matrix in memory when it fits in this many MiB."""

    def __post_init__(self) -> None:
        if self.proj_dim < 1:
            raise DataError(f"proj_dim must be >= 1; got {self.proj_dim}")
        if self.projection not in ("sparse", "rademacher"):
            raise DataError(f"projection must be 'sparse' or 'rademacher'; got {self.projection!r}")
        if not 1 <= self.sparse_nnz <= self.proj_dim:
            raise DataError(f"sparse_nnz must be in [1, proj_dim]; got {self.sparse_nnz}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0):
            raise DataError("need 0 <= beta1, beta2 < 1 and eps > 0")
        if self.param_pattern is not None:
            try:
                re.compile(self.param_pattern)
            except re.error as exc:
                raise DataError(f"param_pattern {self.param_pattern!r} is not a regex: {exc}"
                                ) from None


@dataclass(frozen=True)
class LessCheckpoint:
    """A warm-up checkpoint: model directory, its Adam state (or None) and its learning rate."""

    model: str
    """Model directory (saved with save_pretrained)."""
    lr: float = 1.0
    """Average learning rate of the epoch that ended here (the weight of this checkpoint)."""
    adam_state: str | None = None
    """Safetensors file of Adam moments; None: plain gradients for training items too."""
    base: str | None = None
    """If set, ``model`` holds LoRA adapters (``zpd.data.lora``) over this base model directory."""

    @classmethod
    def from_dir(cls, directory: str | os.PathLike[str]) -> LessCheckpoint:
        """Read a checkpoint written by :func:`warmup` (or any dir; missing parts default)."""
        d = Path(directory)
        info = json.loads((d / INFO_FILE).read_text()) if (d / INFO_FILE).exists() else {}
        adam = d / ADAM_FILE
        return cls(model=str(d), lr=float(info.get("lr", 1.0)),
                   adam_state=str(adam) if adam.exists() else None, base=info.get("base"))


class RademacherProjector:
    """x (B, P) -> x R (B, d) with R[i, j] = +-1/sqrt(d), seeded, generated per chunk of rows."""

    def __init__(self, num_params: int, dim: int, seed: int, *, chunk: int = 1 << 15,
                 cache_mb: int = 512):
        self.num_params, self.dim, self.seed, self.chunk = num_params, dim, seed, chunk
        self._cache: dict[int, torch.Tensor] | None = (
            {} if num_params * dim * 4 <= cache_mb * 2**20 else None)

    def _block(self, c: int, rows: int) -> torch.Tensor:
        if self._cache is not None and c in self._cache:
            return self._cache[c]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + c)
        r = torch.randint(0, 2, (rows, self.dim), generator=gen).float().mul_(2).sub_(1)
        r.div_(self.dim**0.5)
        if self._cache is not None:
            self._cache[c] = r
        return r

    def project(self, x: torch.Tensor) -> torch.Tensor:
        def add(out: torch.Tensor, part: torch.Tensor, c: int) -> None:
            out += part @ self._block(c, part.shape[1])

        return _project_chunks(x, self.num_params, self.dim, self.chunk, add)


class SparseProjector:
    """x (B, P) -> x S (B, d): gradient entry i goes to ``nnz`` seeded columns with signs
    +-1/sqrt(nnz) (sparse JL, Kane & Nelson 2014: inner products kept in expectation). Columns
    and signs are regenerated per chunk of rows from the seed, so nothing of size P x d exists
    and a row costs O(P * nnz) instead of the dense matrix's O(P * d)."""

    def __init__(self, num_params: int, dim: int, seed: int, *, nnz: int = 8,
                 chunk: int = 1 << 16):
        self.num_params, self.dim, self.seed, self.nnz, self.chunk = (
            num_params, dim, seed, nnz, chunk)

    def _block(self, c: int, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + c)
        cols = torch.randint(0, self.dim, (rows, self.nnz), generator=gen)  # (rows, nnz)
        sign = torch.randint(0, 2, (rows, self.nnz), generator=gen).float().mul_(2).sub_(1)
        return cols.reshape(-1), sign.div_(self.nnz**0.5)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        def add(out: torch.Tensor, part: torch.Tensor, c: int) -> None:
            cols, sign = self._block(c, part.shape[1])
            out.index_add_(1, cols, (part[:, :, None] * sign[None]).reshape(part.shape[0], -1))

        return _project_chunks(x, self.num_params, self.dim, self.chunk, add)


def _project_chunks(x: torch.Tensor, num_params: int, dim: int, chunk: int,
                    add: Any) -> torch.Tensor:
    """(B, d) projection of x (B, P), one chunk of P at a time: ``add(out, x_chunk, c)``."""
    if x.shape[1] != num_params:
        raise DataError(f"expected {num_params} gradient entries, got {x.shape[1]}")
    out = torch.zeros((x.shape[0], dim), dtype=torch.float32)  # (B, d)
    for c, start in enumerate(range(0, num_params, chunk)):
        add(out, x[:, start:min(start + chunk, num_params)].float().cpu(), c)
    return out


def make_projector(num_params: int, cfg: LessConfig) -> RademacherProjector | SparseProjector:
    """The projection ``cfg`` asks for."""
    if cfg.projection == "rademacher":
        return RademacherProjector(num_params, cfg.proj_dim, cfg.seed, cache_mb=cfg.cache_mb)
    return SparseProjector(num_params, cfg.proj_dim, cfg.seed, nnz=cfg.sparse_nnz)


def _selected(model: Any, pattern: str | None) -> list[tuple[str, torch.nn.Parameter]]:
    rx = re.compile(pattern) if pattern else None
    out = [(n, p) for n, p in model.named_parameters()
           if p.requires_grad and (rx is None or rx.search(n))]
    if not out:
        raise DataError(f"no trainable parameter matches param_pattern={pattern!r}")
    return out


def answer_loss(lm: LoadedModel, prompt_ids: list[int], answer_ids: list[int],
                max_length: int | None = None) -> torch.Tensor:
    """Mean NLL of the answer tokens given the prompt (prompt tokens are not trained on)."""
    ctx = list(lm.prefix_ids)  # the tokenizer's own convention: nothing the model never saw
    ids = (ctx + prompt_ids + answer_ids)[: max_length or lm.max_length]
    n_prefix = len(ctx) + len(prompt_ids)
    if len(ids) <= max(n_prefix, 1):
        raise DataError("an answer has no token left to score (empty, or cut by max_length)")
    x = torch.tensor([ids], dtype=torch.long, device=lm.device)
    logits = lm.model(input_ids=x, use_cache=False).logits[0, :-1].float()  # (T-1, V)
    target = x[0, 1:].clone()
    target[: n_prefix - 1] = -100  # positions predicting prompt tokens
    return F.cross_entropy(logits, target, ignore_index=-100)


def _grads(lm: LoadedModel, params: list[tuple[str, torch.nn.Parameter]], prompts: Sequence[str],
           answers: Sequence[str], max_length: int | None) -> Iterator[torch.Tensor]:
    """Flat gradient (P,) of each example's answer loss, one at a time."""
    for x, y in zip(lm.encode(list(prompts)), lm.encode(list(answers))):
        lm.model.zero_grad(set_to_none=True)
        answer_loss(lm, x, y, max_length).backward()
        yield torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                         for _, p in params]).detach()


class _Ckpt:
    """A loaded checkpoint with its selected parameters, Adam moments and projector."""

    def __init__(self, ck: LessCheckpoint, cfg: LessConfig, device: str):
        if ck.base is not None:
            from zpd.data.lora import load_lora

            self.lm = load_model(ck.base, device=device, dtype="float32")
            load_lora(self.lm.model, ck.model)  # only the adapters stay trainable
        else:
            self.lm = load_model(ck.model, device=device, dtype="float32")
        self.lr = ck.lr
        self.params = _selected(self.lm.model, cfg.param_pattern)
        n = sum(p.numel() for _, p in self.params)
        self.proj = make_projector(n, cfg)
        self.m = self.v = None
        if ck.adam_state is not None:
            from safetensors.torch import load_file

            state = load_file(ck.adam_state)
            try:
                self.m = torch.cat([state[f"exp_avg/{k}"].reshape(-1) for k, _ in self.params])
                self.v = torch.cat([state[f"exp_avg_sq/{k}"].reshape(-1) for k, _ in self.params])
            except KeyError as exc:
                raise DataError(f"{ck.adam_state} has no Adam moment {exc}; it must come from "
                                "the same model (see zpd.data.less.save_adam_state)") from None

    def features(self, prompts: Sequence[str], answers: Sequence[str], cfg: LessConfig,
                 adam: bool) -> torch.Tensor:
        """(N, d) unit-norm projected features: Adam-preconditioned (train) or plain (target)."""
        group = max(1, (64 << 20) // max(1, self.proj.num_params))  # <= 256 MiB of raw gradients
        rows: list[torch.Tensor] = []
        out = [torch.zeros(0, self.proj.dim)]
        for g in _grads(self.lm, self.params, prompts, answers, cfg.max_length):
            if adam and self.m is not None and self.v is not None:
                m = cfg.beta1 * self.m + (1 - cfg.beta1) * g
                v = cfg.beta2 * self.v + (1 - cfg.beta2) * g * g
                g = m / (v.sqrt() + cfg.eps)
            rows.append(g)
            if len(rows) == group:
                out.append(self.proj.project(torch.stack(rows)))
                rows = []
        if rows:
            out.append(self.proj.project(torch.stack(rows)))
        return F.normalize(torch.cat(out), dim=1)


class LessSelector:
    """LESS scores (arXiv 2402.04333): ``fit`` on target examples, ``score`` training items.

    ``fit`` stores ``target_features_`` (per checkpoint, per subset: (n_j, d) unit vectors) and
    ``subsets_``; ``score`` returns (N,) = max_j sum_i lr_i * mean cos, aligned to the input.
    """

    def __init__(self, checkpoints: Sequence[LessCheckpoint], config: LessConfig | None = None,
                 *, device: str = "auto"):
        if not checkpoints:
            raise DataError("LESS needs at least one checkpoint")
        self.config = config or LessConfig()
        self._ckpts = [_Ckpt(ck, self.config, device) for ck in checkpoints]

    def fit(self, prompts: Sequence[str], answers: Sequence[str],
            subsets: Sequence[Any] | None = None) -> LessSelector:
        """Target examples (few-shot validation data), grouped by ``subsets`` (e.g. task name)."""
        if not prompts or len(prompts) != len(answers):
            raise DataError("fit needs at least one target example and one answer per prompt")
        labels = list(subsets) if subsets is not None else ["all"] * len(prompts)
        if len(labels) != len(prompts):
            raise DataError(f"got {len(labels)} subset labels for {len(prompts)} targets")
        self.subsets_ = sorted(set(map(str, labels)))
        groups = [[i for i, s in enumerate(labels) if str(s) == name] for name in self.subsets_]
        self.target_features_ = []
        for ck in self._ckpts:
            feats = ck.features(prompts, answers, self.config, adam=False)  # (M, d)
            self.target_features_.append([feats[g] for g in groups])
        return self

    def score(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """LESS score per training item (higher = more aligned with some target subset)."""
        if not hasattr(self, "target_features_"):
            raise DataError("call fit(target prompts, answers) before score")
        total = torch.zeros((len(prompts), len(self.subsets_)))  # (N, J)
        for ck, targets in zip(self._ckpts, self.target_features_):
            feats = ck.features(prompts, answers, self.config, adam=True)  # (N, d)
            sims = [(feats @ t.T).mean(dim=1) for t in targets]  # J x (N,)
            total += ck.lr * torch.stack(sims, dim=1)
        return total.max(dim=1).values.numpy().astype(np.float64)


def save_adam_state(optimizer: torch.optim.Optimizer, model: Any,
                    path: str | os.PathLike[str]) -> None:
    """Write a torch Adam/AdamW optimizer's moments as safetensors keyed by parameter name."""
    from safetensors.torch import save

    names = {id(p): n for n, p in model.named_parameters()}
    tensors: dict[str, torch.Tensor] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            st = optimizer.state.get(p, {})
            if "exp_avg" in st and id(p) in names:
                tensors[f"exp_avg/{names[id(p)]}"] = st["exp_avg"].detach().cpu().contiguous()
                tensors[f"exp_avg_sq/{names[id(p)]}"] = st["exp_avg_sq"].detach().cpu().contiguous()
    if not tensors:
        raise DataError("the optimizer holds no Adam moments yet; take at least one step first")
    atomic_write_bytes(path, save(tensors))


def warmup(model: str | os.PathLike[str], prompts: Sequence[str], answers: Sequence[str],
           out_dir: str | os.PathLike[str], *, epochs: int = 4, lr: float = 2e-5,
           batch_size: int = 8, seed: int = 0, device: str = "auto",
           config: LessConfig | None = None, lora: Any = None,
           progress: bool = False) -> list[LessCheckpoint]:
    """LESS warm-up: Adam on (prompt, answer) pairs, a checkpoint after every epoch.

    Pass the warm-up subset (LESS: a random 5%, e.g. ``keep_indices(s, 0.05, "random")``).
    Each ``out_dir/epoch{e}`` holds the model (or, with ``lora`` — a ``zpd.data.lora.LoraConfig``,
    LESS's choice for large models — only the adapters), Adam moments and the learning rate.
    The checkpoints are cached by their inputs (``out_dir/warmup.json``: a hash of the model's
    files, the examples and the settings): the same call again, e.g. a resumed ``zpd select``,
    reuses them instead of training again.
    """
    cfg = config or LessConfig()
    if epochs < 1 or batch_size < 1 or not lr > 0 or not prompts:
        raise DataError("warmup needs epochs >= 1, batch_size >= 1, lr > 0 and some examples")
    key = _warmup_key(model, prompts, answers, epochs=epochs, lr=lr, batch_size=batch_size,
                      seed=seed, cfg=cfg, lora=lora)
    cached = _cached_warmup(Path(out_dir), key, epochs)
    if cached is not None:
        return cached
    lm = load_model(model, device=device, dtype="float32")
    if lora is not None:
        from zpd.data.lora import add_lora

        add_lora(lm.model, lora)
    lm.model.train()
    params = [p for _, p in _selected(lm.model, cfg.param_pattern)]
    opt = torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    xs, ys = lm.encode(list(prompts)), lm.encode(list(answers))
    rng = np.random.default_rng(seed)
    out = []
    bar = _bar(epochs * len(xs), progress, "LESS warm-up")
    for epoch in range(1, epochs + 1):
        for batch in np.array_split(rng.permutation(len(xs)), max(1, len(xs) // batch_size)):
            opt.zero_grad(set_to_none=True)
            loss = torch.stack([answer_loss(lm, xs[i], ys[i], cfg.max_length) for i in batch])
            loss.mean().backward()
            opt.step()
            if bar is not None:
                bar.update(len(batch))
        out.append(_save_checkpoint(lm, opt, Path(out_dir) / f"epoch{epoch}", lr, epoch, model,
                                    lora))
    if bar is not None:
        bar.close()
    atomic_write_json(Path(out_dir) / WARMUP_FILE, {"key": key, "epochs": epochs})
    return out


WARMUP_FILE = "warmup.json"


def _warmup_key(model: str | os.PathLike[str], prompts: Sequence[str], answers: Sequence[str],
                **settings: Any) -> str:
    """A hash of everything a warm-up's checkpoints depend on."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(Path(model).glob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for x, y in zip(prompts, answers):
        h.update(json.dumps([x, y]).encode())
    cfg = settings.pop("cfg")
    lora = settings.pop("lora")
    h.update(json.dumps({**settings, "cfg": [cfg.beta1, cfg.beta2, cfg.eps, cfg.param_pattern,
                                             cfg.max_length],
                         "lora": repr(lora)}, sort_keys=True).encode())
    return h.hexdigest()[:20]


def _cached_warmup(out_dir: Path, key: str, epochs: int) -> list[LessCheckpoint] | None:
    """The checkpoints of a finished warm-up with the same inputs, else None."""
    info = out_dir / WARMUP_FILE
    if not info.is_file():
        return None
    try:
        meta = json.loads(info.read_text())
    except ValueError:
        return None
    dirs = [out_dir / f"epoch{e}" for e in range(1, epochs + 1)]
    if meta.get("key") != key or not all((d / INFO_FILE).is_file() for d in dirs):
        return None
    return [LessCheckpoint.from_dir(d) for d in dirs]


def _bar(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="row", file=sys.stderr)


def _save_checkpoint(lm: LoadedModel, opt: torch.optim.Optimizer, d: Path, lr: float, epoch: int,
                     base: str | os.PathLike[str], lora: Any) -> LessCheckpoint:
    base_dir = None
    if lora is not None:
        from zpd.data.lora import save_lora

        base_dir = str(Path(base).resolve())
        save_lora(lm.model, lora, d)
    else:
        lm.model.save_pretrained(d)
        lm.tokenizer.save_pretrained(d)
    save_adam_state(opt, lm.model, d / ADAM_FILE)
    atomic_write_json(d / INFO_FILE, {"lr": lr, "epoch": epoch, "base": base_dir})
    return LessCheckpoint(model=str(d), lr=lr, adam_state=str(d / ADAM_FILE), base=base_dir)
