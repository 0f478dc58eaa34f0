"""Pretraining of the lab's base model: next-token SFT on a configurable base distribution.

What it is: ``pretrain(config, out_dir)`` trains a fresh char-level GPT (a preset of
:mod:`zpd.lab.model`) on items of the ops, formats and digit range the config names, with a share
of the answers corrupted by one digit (label noise) so that the base *samples* the right answer
only part of the time: RL then has something to sharpen (pass@k >> pass@1, DESIGN.md §6). It
shows a tqdm progress bar, measures held-out accuracy per op/format/n_digits (greedy and sampled),
writes periodic checkpoints (model, optimizer, RNG state and step in safetensors + JSON, written
atomically) and resumes an interrupted run from the last one. The finished base is a Hugging
Face checkpoint directory (``<out_dir>/final``). ``cached_base(config)`` puts the run under a cache
keyed by a hash of the config and the lab's source (``$ZPD_CACHE_DIR`` or ``~/.cache/zpd``), so
the demo trains a base once.

What it is not: RL (see :mod:`zpd.lab.rl`) or a general trainer (one process, one device).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zpd.core.atomic import atomic_write_bytes, strict_dumps
from zpd.core.errors import ConfigError, StateError

if TYPE_CHECKING:
    import torch

FINAL = "final"
STATE = "state"
EVAL_FILE = "eval.json"
CONFIG_FILE = "pretrain_config.json"
#: Bump when this module changes what a base learns (batches, loss, schedule): old caches go stale.
PRETRAIN_VERSION = "1"


class PretrainConfigError(ConfigError):
    """A pretraining setting is out of range or unknown; the message names the field and fix."""


def _default_mix() -> tuple[Any, ...]:
    from zpd.lab import tasks

    return tasks.default_base_mix()


@dataclass(frozen=True)
class PretrainConfig:
    """The base model's training run: what it saw (the base distribution) and how long."""

    mix: tuple[Any, ...] = dataclasses.field(default_factory=_default_mix)
    """The base distribution: ``tasks.TaskConfig`` blocks (ops, formats, digit range, label
    noise, weight), drawn in proportion to their weights. Default: ``tasks.default_base_mix()``."""
    label_noise: float | None = None
    """If set, replaces the label noise of every block that has some (0 = clean labels)."""
    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 128
    """Sequences per step."""
    lr: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to a tenth)."""
    warmup_steps: int = 50
    """Linear warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    preset: str = "small"
    """Model size preset of :mod:`zpd.lab.model` (tiny, small, base)."""
    seed: int = 0
    """Seed of the model init, the data stream and the label noise."""
    eval_every: int = 0
    """Held-out evaluation every this many steps; 0 = only at the end (it always runs there)."""
    eval_items: int = 24
    """Held-out items per (op, format, n_digits) cell."""
    eval_extra_digits: int = 3
    """Also evaluate each block this many digits beyond its range (how hard is 'too hard')."""
    checkpoint_every: int = 250
    """Save a resumable checkpoint every this many steps."""

    def __post_init__(self) -> None:
        from zpd.lab import tasks

        mix = (self.mix,) if isinstance(self.mix, tasks.TaskConfig) else tuple(self.mix)
        if not mix or not all(isinstance(b, tasks.TaskConfig) for b in mix):
            raise PretrainConfigError("PretrainConfig.mix: give a non-empty tuple of tasks.TaskConfig")
        if self.label_noise is not None:
            if not isinstance(self.label_noise, (int, float)) or not 0 <= self.label_noise <= 1:
                raise PretrainConfigError(
                    f"PretrainConfig.label_noise={self.label_noise!r}: must be in [0, 1] or None"
                )
            mix = tuple(
                dataclasses.replace(b, label_noise=float(self.label_noise)) if b.label_noise else b
                for b in mix
            )
        object.__setattr__(self, "mix", mix)
        _check_int(self, "steps", 1, 10**8)
        _check_int(self, "batch_size", 1, 1 << 16)
        _check_int(self, "warmup_steps", 0, 10**8)
        _check_int(self, "eval_every", 0, 10**8)
        _check_int(self, "eval_items", 1, 1 << 16)
        _check_int(self, "eval_extra_digits", 0, 12)
        _check_int(self, "checkpoint_every", 1, 10**8)
        _check_int(self, "seed", 0, 2**63 - 1)
        if not isinstance(self.weight_decay, (int, float)) or not 0 <= self.weight_decay <= 1:
            raise PretrainConfigError(
                f"PretrainConfig.weight_decay={self.weight_decay!r}: must be in [0, 1]"
            )
        if not isinstance(self.lr, (int, float)) or not 0 < self.lr <= 1:
            raise PretrainConfigError(f"PretrainConfig.lr={self.lr!r}: must be in (0, 1]")
        from zpd.lab import model as gpt

        if self.preset not in gpt.PRESETS:
            raise PretrainConfigError(
                f"PretrainConfig.preset={self.preset!r}: choose one of {sorted(gpt.PRESETS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the mix as a list of TaskConfig dicts)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["mix"] = [task_config_to_dict(b) for b in self.mix]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PretrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        from zpd.lab import tasks

        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise PretrainConfigError(
                f"unknown PretrainConfig keys {sorted(unknown)}; known: {sorted(names)}"
            )
        kw = dict(d)
        if "mix" in kw:
            kw["mix"] = tuple(tasks.TaskConfig(**_task_kwargs(b)) for b in kw["mix"])
        return cls(**kw)

    def fingerprint(self) -> str:
        """The cache key: a hash of the config, :data:`PRETRAIN_VERSION`, and what the lab's
        modules make of it — the vocabulary, the first two training batches and the model's
        shape. Behaviour-preserving edits to tasks/tokenizer/model keep the key; a change to the
        data or the architecture moves it (a change to weight init alone would not)."""
        from zpd.lab import model as gpt
        from zpd.lab.tokenizer import CharTokenizer

        h = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode())
        h.update(PRETRAIN_VERSION.encode())
        tok = CharTokenizer()
        h.update("".join(tok.vocab).encode())
        shape = gpt.GPTConfig.preset(self.preset, vocab_size=tok.vocab_size)
        h.update(json.dumps(dataclasses.asdict(shape), sort_keys=True).encode())
        for step in range(2):
            idx, tgt = make_batch(self, step, tok)
            h.update(idx.numpy().tobytes() + tgt.numpy().tobytes())
        return h.hexdigest()[:16]


_OMITTED_AT_DEFAULT = frozenset({"echo_noise"})


def task_config_to_dict(cfg: Any) -> dict[str, Any]:
    """A ``tasks.TaskConfig`` as JSON-ready values (enums as their strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if f.name in _OMITTED_AT_DEFAULT and v == f.default:
            continue  # fields added later: absent at their default, so old fingerprints hold
        if isinstance(v, tuple):
            v = [getattr(x, "value", x) for x in v]
        out[f.name] = getattr(v, "value", v)
    return out


def _task_kwargs(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _check_int(cfg: object, name: str, lo: int, hi: int) -> None:
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise PretrainConfigError(f"{type(cfg).__name__}.{name}={v!r}: must be an int in [{lo}, {hi}]")


SHIPPED = Path(__file__).with_name("bases")
"""Bases that ship with the package, one folder per fingerprint (made by :func:`pretrain`)."""


def _copy_shipped(config: PretrainConfig, out: Path) -> bool:
    """Copy the shipped base for ``config`` into ``out`` if the package has one (the demo's
    default base: pretraining it takes minutes, copying it milliseconds)."""
    src = SHIPPED / config.fingerprint()
    if not (src / FINAL / "model.safetensors").is_file() or not (src / EVAL_FILE).is_file():
        return False
    tmp = out / (FINAL + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src / FINAL, tmp)
    shutil.copy2(src / EVAL_FILE, out / EVAL_FILE)
    os.replace(tmp, out / FINAL)
    return True


def cache_root() -> Path:
    """``$ZPD_CACHE_DIR`` if set, else ``~/.cache/zpd``."""
    env = os.environ.get("ZPD_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zpd"


def cached_base_dir(config: PretrainConfig) -> Path:
    """Where ``config``'s base lives in the cache: ``<cache>/bases/<fingerprint>``."""
    return cache_root() / "bases" / config.fingerprint()


def is_finished(out_dir: str | os.PathLike[str]) -> bool:
    """True if ``out_dir`` holds a finished base (final checkpoint and its eval)."""
    d = Path(out_dir)
    return (d / FINAL / "model.safetensors").is_file() and (d / EVAL_FILE).is_file()


def load_eval(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The finished base's held-out evaluation (see :func:`pretrain`)."""
    p = Path(out_dir) / EVAL_FILE
    if not p.is_file():
        raise StateError(f"{p} not found: pretraining in {out_dir} has not finished; run pretrain")
    return dict(json.loads(p.read_text()))


# ----------------------------------------------------------------------------- data
def make_batch(config: PretrainConfig, step: int, tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s training batch, a pure function of (config, step) so resume is exact.

    Returns ``idx`` (B, L) inputs and ``targets`` (B, L) next tokens, -1 outside completions
    (the loss is on completions only: prompts are random digits nothing can predict).
    """
    from zpd.lab import tasks

    rng = np.random.default_rng([config.seed, step, 1])
    weights = np.array([b.weight for b in config.mix], dtype=np.float64)
    counts = rng.multinomial(config.batch_size, weights / weights.sum())  # (n_blocks,)
    seqs: list[tuple[list[int], int]] = []
    for block, k in zip(config.mix, counts):
        if k == 0:
            continue
        items = tasks.make_items(dataclasses.replace(block, n_items=int(k)), rng)
        for it in items:
            p = tokenizer.encode(it.prompt)
            c = tokenizer.encode(tasks.training_completion(it, block, rng))
            seqs.append((p + c, len(p)))
    return pack_completions(seqs, tokenizer.pad_id)


def pack_completions(seqs: list[tuple[list[int], int]], pad_id: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt + completion ids, prompt length) pairs -> ``idx`` (B, L) inputs and ``targets``
    (B, L) next tokens, -1 outside completions (the lab's completion-only loss)."""
    import torch

    L = max(len(s) for s, _ in seqs) - 1
    idx = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    tgt = torch.full((len(seqs), L), -1, dtype=torch.long)
    for r, (s, n_prompt) in enumerate(seqs):
        t = torch.tensor(s, dtype=torch.long)
        idx[r, : len(s) - 1] = t[:-1]
        tgt[r, n_prompt - 1 : len(s) - 1] = t[n_prompt:]
    return idx, tgt


def eval_cells(config: PretrainConfig, seed: int) -> dict[str, list[Any]]:
    """Held-out items per ``op/fmt/n_digits`` cell of the base distribution, plus
    ``eval_extra_digits`` lengths beyond each block's range (drawn from their own RNG)."""
    from zpd.lab import tasks

    rng = np.random.default_rng([seed, 2])
    cells: dict[str, list[Any]] = {}
    for block in config.mix:
        hi = min(block.digits[1] + config.eval_extra_digits, 12)
        for op, fmt in block.valid_pairs():
            for n in range(block.digits[0], hi + 1):
                name = f"{op.value}/{fmt.value}/{n}"
                if name in cells:
                    continue
                cfg = dataclasses.replace(
                    block, ops=(op,), formats=(fmt,), digits=(n, n), n_items=config.eval_items,
                    label_noise=0.0,
                )
                cells[name] = tasks.make_items(cfg, rng)
    return cells


def evaluate_cells(
    model: Any, tokenizer: Any, cells: Mapping[str, Sequence[Any]], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Greedy and sampled (temperature 1) accuracy per cell: ``{cell: {op, fmt, n_digits,
    greedy, sampled}}``."""
    import torch

    from zpd.lab.rl import completion_budget, evaluate

    budget = completion_budget([it for items in cells.values() for it in items])
    acc = evaluate(
        model, tokenizer, cells, temperature=1.0, max_new_tokens=budget,
        generator=torch.Generator().manual_seed(seed),
    )
    out: dict[str, dict[str, Any]] = {}
    for name in cells:
        op, fmt, n = name.split("/")
        out[name] = {
            "op": op, "fmt": fmt, "n_digits": int(n),
            "greedy": acc[f"lab/eval/{name}/greedy"], "sampled": acc[f"lab/eval/{name}/sampled"],
        }
    return out


# ----------------------------------------------------------------------------- checkpoints
def _save_checkpoint(out: Path, model: Any, opt: Any, step: int, history: list[Any]) -> None:
    """Write ``state/step-<step>/`` (weights, optimizer, RNG, step) then point ``latest.json``
    at it (:func:`zpd.lab.checkpoint.save`: a crash leaves the previous checkpoint usable)."""
    import torch

    from zpd.lab import checkpoint

    checkpoint.save(out / STATE, step, model, opt, {"rng.torch": torch.get_rng_state()},
                    {"history": history})


def _load_checkpoint(out: Path, model: Any, opt: Any) -> tuple[int, list[Any]]:
    """Restore the latest checkpoint into ``model``/``opt``; (0, []) if there is none."""
    import torch

    from zpd.lab import checkpoint

    found = checkpoint.read(out / STATE)
    if found is None:
        return 0, []
    meta, weights, tensors = found
    checkpoint.restore(model, opt, meta, weights, tensors)
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"]), list(meta["history"])


def _lr(config: PretrainConfig, step: int) -> float:
    """Linear warm-up then cosine decay to a tenth of the peak."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    frac = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))


# ----------------------------------------------------------------------------- the run
def pretrain(
    config: PretrainConfig,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Train the base model and return its Hugging Face checkpoint directory (``out_dir/final``).

    ``out_dir`` defaults to the cache (:func:`cached_base_dir`); a finished run there is reused
    as is, an interrupted one resumes from its last checkpoint. ``on_step(step, loss)`` is called
    after every optimizer step (progress for callers; raising in it interrupts the run).
    The held-out evaluation per op/format/n_digits is written to ``out_dir/eval.json``.
    """
    import torch

    from zpd.lab import model as gpt
    from zpd.lab.tokenizer import CharTokenizer

    out = Path(out_dir) if out_dir is not None else cached_base_dir(config)
    _claim_dir(out, config)
    if is_finished(out):
        return out / FINAL
    if _copy_shipped(config, out):
        return out / FINAL
    torch.manual_seed(config.seed)
    tok = CharTokenizer()
    model = gpt.GPT(gpt.GPTConfig.preset(config.preset, vocab_size=tok.vocab_size))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                            betas=(0.9, 0.99))
    start, history = _load_checkpoint(out, model, opt)
    bar = _progress_bar(config, start, progress)
    model.train()
    t0 = time.perf_counter()
    for step in range(start, config.steps):
        value = _optimizer_step(config, step, model, opt, tok)
        done = step + 1
        if done % 10 == 0 or done == config.steps:
            history.append({"step": done, "loss": value, "seconds": time.perf_counter() - t0})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
        if config.eval_every and done % config.eval_every == 0 and done < config.steps:
            history.append({"step": done, "eval": _eval_summary(model, tok, config)})
        if done % config.checkpoint_every == 0 and done < config.steps:
            _save_checkpoint(out, model, opt, done, history)
        if on_step is not None:
            on_step(done, value)
    if bar is not None:
        bar.close()
    model.eval()
    result = evaluate_cells(model, tok, eval_cells(config, config.seed), seed=config.seed)
    gpt.save_pretrained(model, tok, out / FINAL)
    payload = {"cells": result, "history": history, "num_params": model.num_params(),
               "fingerprint": config.fingerprint()}
    atomic_write_bytes(out / EVAL_FILE, strict_dumps(payload, indent=1).encode())
    shutil.rmtree(out / STATE, ignore_errors=True)
    return out / FINAL


def _optimizer_step(config: PretrainConfig, step: int, model: Any, opt: Any, tok: Any) -> float:
    """One AdamW step on step ``step``'s batch; returns the loss."""
    import torch

    for g in opt.param_groups:
        g["lr"] = _lr(config, step)
    idx, tgt = make_batch(config, step, tok)  # (B, L), (B, L)
    _, loss = model(idx, tgt)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(loss.detach())


def _claim_dir(out: Path, config: PretrainConfig) -> None:
    """Create ``out`` for ``config``, or check that it already belongs to the same config."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_FILE
    mine = {"fingerprint": config.fingerprint(), "config": config.to_dict()}
    if path.is_file():
        theirs = json.loads(path.read_text())
        if theirs.get("fingerprint") != mine["fingerprint"]:
            raise StateError(
                f"{out} holds a base for another config (or older lab code): fingerprint "
                f"{theirs.get('fingerprint')} != {mine['fingerprint']}; choose another out_dir "
                "or delete that folder"
            )
        return
    atomic_write_bytes(path, strict_dumps(mine, indent=1).encode())


def _progress_bar(config: PretrainConfig, start: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.steps, initial=start, desc="pretrain", unit="step", leave=True)


def _eval_summary(model: Any, tok: Any, config: PretrainConfig) -> dict[str, float]:
    """Mean greedy and sampled accuracy over the held-out cells (a periodic check)."""
    res = evaluate_cells(model, tok, eval_cells(config, config.seed), seed=config.seed)
    model.train()
    return {
        "greedy": float(np.mean([c["greedy"] for c in res.values()])),
        "sampled": float(np.mean([c["sampled"] for c in res.values()])),
    }


def cell_accuracy(eval_payload: Mapping[str, Any], op: str, fmt: str, n_digits: int,
                  mode: str = "sampled") -> float | None:
    """The finished base's held-out accuracy of one cell (None if it was not evaluated)."""
    cell = eval_payload["cells"].get(f"{op}/{fmt}/{n_digits}")
    return None if cell is None else float(cell[mode])
