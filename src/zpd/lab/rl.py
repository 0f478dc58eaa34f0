"""GRPO on the lab's digit tasks, with prompts chosen by a ``zpd.Curriculum``.

What it is: the lab's RL loop, readable top to bottom. Each step asks the curriculum for prompt
ids (public API only: ``sample``, ``update``, ``estimate``, ``advantage``, ``requires_post_filter``),
samples G completions per prompt with the KV-cache generator, scores them with the tasks'
verifier (binary reward), computes group advantages (GRPO, Dr.GRPO or tracker-informed, from
``zpd.advantage``), and takes one on-policy policy-gradient step with an optional KL penalty to
the frozen base. Every rollout paid for is counted, including the groups DAPO's dynamic sampling
drops. Each step writes one metrics row (namespaces ``lab/…`` and ``curriculum/…``) to a sink, and
hands a :class:`RolloutBatch` record to any monitors passed in.

GRPO: Shao et al., DeepSeekMath, arXiv 2402.03300. Dr.GRPO: Liu et al., arXiv 2503.20783.
DAPO dynamic sampling: Yu et al., arXiv 2503.14476 (drop zero-variance groups, refill the batch).

What it is not: a general trainer (one update per batch, no PPO epochs, no value model), nor the
place where prompts are chosen (that is the curriculum) or where the demo's arms are run
(:mod:`zpd.lab.experiments`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zpd.core.atomic import strict_dumps
from zpd.core.errors import ConfigError

if TYPE_CHECKING:  # torch is imported lazily so that `import zpd.lab.rl` stays light
    import torch


class RLConfigError(ConfigError):
    """An RL setting is out of range or unknown; the message names the field and the fix."""


@dataclass(frozen=True)
class RLConfig:
    """Settings of one GRPO run under one curriculum policy."""

    policy: str = "zpd"
    """Curriculum policy name for ``zpd.Curriculum`` (zpd, uniform, dapo, mopps, greso, ...)."""
    group_size: int = 8
    """G: completions sampled per prompt (the GRPO group)."""
    prompts_per_step: int = 16
    """Prompts (groups) trained on per step; dapo refills up to this many informative groups."""
    rollout_budget: int = 6144
    """Total rollouts (completions) the run may pay for, dapo's dropped ones included."""
    lr: float = 3e-5
    """AdamW learning rate. Adam moves every weight by ~lr per step whatever the batch, so this
    sets the drift: on the 0.6M base, 3e-4 reached a KL to the base of 0.45 nats/token within 5
    steps and 1e-4 of 0.1-0.2, while 3e-5 kept it below 0.1 and still sharpened in-band
    accuracy from 0.42 to 0.85 in 2k rollouts."""
    kl_coef: float = 0.0
    """Weight of the per-token k3 KL(policy || base) penalty; 0 disables it (KL is still logged)."""
    advantage: str = "grpo"
    """Advantage variant, a ``zpd.AdvantageKind`` value (e.g. grpo, dr_grpo, tracker)."""
    temperature: float = 1.0
    """Sampling temperature of rollouts and of the sampled evaluation."""
    max_new_tokens: int | None = None
    """Longest completion; one without end-of-sequence by then is truncated (reward 0). None:
    the longest faithful completion of any pool/eval item in any allowed format, plus 2."""
    eval_every: int = 4
    """Evaluate held-out sets every this many steps (and at step 0 and the last step)."""
    max_refill_rounds: int = 4
    """For post-filtering policies (dapo): most sampling rounds per step before training anyway."""
    checkpoint_every: int = 4
    """Save the run's whole state (weights, optimizer, curriculum, RNGs, counters, monitors) to
    ``out_dir/state/`` every this many steps (0: never). :func:`run_rl` into the same folder
    with the same settings continues from it, with the same future: an interrupted run resumes
    instead of starting over, and its ``metrics.jsonl`` keeps no duplicate steps."""
    post_filter: bool = False
    """Drop zero-variance groups after rollout and sample again until the step holds
    ``prompts_per_step`` informative groups (DAPO dynamic sampling, arXiv 2503.14476), whatever
    the policy: ``greso`` or ``zpd`` plus the filter. Every dropped rollout is paid for. dapo
    filters on its own."""
    drift_budget: float | None = None
    """Per-token KL to the base at which the curriculum's drift pressure reaches 1
    (``zpd.monitors.DriftBudget`` on the logged KL, ``Curriculum.set_drift_pressure``: the zpd
    policy leans to easier, in-distribution items; other policies ignore it). None: off."""
    kl_sample_rows: int = 32
    """When ``kl_coef`` is 0 and no monitor needs every row, the logged KL is estimated from the
    base's log-probs on this many random rollouts per round (0 = all rows): the base's forward
    pass is a third of a step's cost. With a KL penalty or monitors, every row is scored."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    seed: int = 0
    """Seed of the curriculum, the sampler and torch."""
    curriculum_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``zpd.Curriculum`` (e.g. a ``config``)."""

    def __post_init__(self) -> None:
        ints = {
            "group_size": (2, 1024),
            "prompts_per_step": (1, 65_536),
            "rollout_budget": (1, 10**12),
            "eval_every": (1, 10**9),
            "max_refill_rounds": (1, 1000),
            "kl_sample_rows": (0, 1 << 20),
            "checkpoint_every": (0, 10**9),
        }
        for name, (lo, hi) in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise RLConfigError(f"RLConfig.{name}={v!r}: must be an int in [{lo}, {hi}]")
        if not isinstance(self.post_filter, bool):
            raise RLConfigError(f"RLConfig.post_filter={self.post_filter!r}: must be true or false")
        floats = {
            "lr": (0.0, 1.0, False),
            "kl_coef": (0.0, 1e6, True),
            "temperature": (0.0, 100.0, False),
            "grad_clip": (0.0, 1e9, False),
            "weight_decay": (0.0, 1.0, True),
        }
        for name, (lo, hi, lo_ok) in floats.items():
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and np.isfinite(v) and v <= hi
            ok = ok and (v >= lo if lo_ok else v > lo)
            if not ok:
                op = ">=" if lo_ok else ">"
                raise RLConfigError(f"RLConfig.{name}={v!r}: must be a number {op} {lo} and <= {hi}")
        m = self.max_new_tokens
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 4096):
            raise RLConfigError(f"RLConfig.max_new_tokens={m!r}: must be None or an int in [1, 4096]")
        import zpd

        try:
            policy = zpd.PolicyName.parse(self.policy).value
        except ValueError as exc:
            raise RLConfigError(f"RLConfig.policy: {exc}") from None
        if policy == "oracle":
            raise RLConfigError("RLConfig.policy='oracle' needs true pass rates; the lab has none")
        object.__setattr__(self, "policy", policy)
        db = self.drift_budget
        if db is not None and (isinstance(db, bool) or not isinstance(db, (int, float))
                               or not 0 < db < 1e6):
            raise RLConfigError(f"RLConfig.drift_budget={db!r}: must be None or a KL > 0")
        if self.rollout_budget < self.group_size:
            raise RLConfigError(
                f"RLConfig.rollout_budget={self.rollout_budget} is below one group "
                f"(group_size={self.group_size}); raise the budget"
            )
        _parse_advantage(self.advantage)
        object.__setattr__(self, "curriculum_kwargs", dict(self.curriculum_kwargs))

    @property
    def rollouts_per_round(self) -> int:
        """Rollouts one sampling round costs: prompts_per_step x group_size."""
        return self.prompts_per_step * self.group_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for the run's header and the report)."""
        d = asdict(self)
        d["curriculum_kwargs"] = {k: repr(v) for k, v in self.curriculum_kwargs.items()}
        return d


def _parse_advantage(kind: str) -> Any:
    import zpd

    try:
        return zpd.AdvantageKind.parse(kind)
    except ValueError:
        choices = [k.value for k in zpd.AdvantageKind]
        raise RLConfigError(f"RLConfig.advantage={kind!r}: choose one of {choices}") from None


# ----------------------------------------------------------------------------- sinks, monitors
class Sink(Protocol):
    """Where per-step metrics go: the protocol of ``zpd.monitors`` sinks (JSONL, TensorBoard,
    MLflow, W&B all fit)."""

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Any] = ()) -> None: ...

    def close(self) -> None: ...


Monitor = Callable[[Any, Any], Any]
"""``monitor(batch, context)`` with a ``zpd.monitors.RolloutBatch`` and ``MonitorContext``;
returns a mapping of metrics or an object with ``metrics`` (and optionally ``alerts``), e.g. a
``zpd.monitors.MonitorSuite``. Metrics are merged into the step's row, alerts go to the sink."""


class ListSink:
    """Keeps every row in memory as ``{"step": step, **metrics}`` (tests, the demo's report)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Any] = ()) -> None:
        self.rows.append({"step": step, **metrics})

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RunResult:
    """What a run returns: its metric rows and where its files are."""

    rows: list[dict[str, Any]]
    out_dir: Path
    steps: int
    rollouts: int
    seconds: float
    model_dir: Path | None


# ----------------------------------------------------------------------------- rollouts
@dataclass
class _Groups:
    """Rollouts of some groups (rows grouped by G); tensors stay on the model's device."""

    ids: np.ndarray  # (B,) pool ids
    prompt_ids: list[list[int]]  # (B*G,) encoded prompts, repeated G times
    completion_ids: torch.Tensor  # (B*G, T) padded with pad_id
    logprobs: torch.Tensor  # (B*G, T) sampling-policy log-probs
    base_logprobs: torch.Tensor  # (B*G, T) frozen-base log-probs of the same tokens
    lengths: torch.Tensor  # (B*G,)
    texts: list[str]
    rewards: np.ndarray  # (B, G)
    advantages: np.ndarray  # (B, G)
    prior_mean: np.ndarray  # (B,) posterior pass rate before this round's update


def _rollout(ctx: _Context, ids: np.ndarray) -> _Groups:
    """Sample G completions for each pool id and score them; advantages use the pre-update state."""
    from zpd.lab import model as gpt
    from zpd.lab import tasks

    cfg, G = ctx.config, ctx.config.group_size
    items = [ctx.pool[int(i)] for i in ids]
    prompts = [ctx.encoded_prompts[int(i)] for i in ids for _ in range(G)]
    with ctx.clock("generation"):
        comp, logp, lengths = gpt.generate(
            ctx.model, prompts, ctx.max_new_tokens, temperature=cfg.temperature,
            generator=ctx.torch_gen,
        )
        texts = decode_completions(ctx.tokenizer, comp, lengths)
        rewards = np.array(
            [tasks.verify(items[r // G], texts[r]) for r in range(len(texts))], dtype=np.float64
        ).reshape(len(ids), G)  # (B, G)
    with ctx.clock("reference"):  # the base's log-probs: KL and monitors, not generation
        base_logp = _base_logprobs(ctx, prompts, comp, lengths)
    with ctx.clock("curriculum"):
        advantages = _advantages(ctx, ids, rewards)
        prior = np.asarray(ctx.curriculum.estimate(ids).mean, dtype=np.float64)
    return _Groups(ids, prompts, comp, logp, base_logp, lengths, texts, rewards, advantages, prior)


def decode_completions(tokenizer: Any, comp: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """Completion texts without the end-of-sequence token (and without padding)."""
    eos = tokenizer.eos_id
    out = []
    for row, n in zip(comp.tolist(), lengths.tolist()):
        row = row[:n]
        if row and row[-1] == eos:
            row = row[:-1]
        out.append(tokenizer.decode(row))
    return out


def _advantages(ctx: _Context, ids: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """(B, G) advantages; the tracker-informed kind reads the posterior before this update."""
    import zpd

    kind = ctx.advantage_kind
    if kind.value == "tracker":
        return np.asarray(ctx.curriculum.advantage(ids, rewards, kind=kind), dtype=np.float64)
    fn = getattr(zpd.advantage, kind.value)
    return np.asarray(fn(rewards), dtype=np.float64)


def _collect(ctx: _Context) -> tuple[_Groups, list[tuple[_Groups, np.ndarray]], int]:
    """One step's groups: (kept groups, every round with its keep mask (B,), rollouts paid).

    Plain policies sample once. A post-filtering policy (dapo, arXiv 2503.14476), or any policy
    with ``post_filter``, drops groups with zero reward variance and samples again, as many
    prompts as groups are still missing, until ``prompts_per_step`` informative groups are
    kept, the round cap is hit, or the budget runs out; every sampled rollout is paid for.
    """
    import zpd

    cfg, cur = ctx.config, ctx.curriculum
    filtering = bool(cur.requires_post_filter) or cfg.post_filter
    paid = 0
    kept_parts: list[tuple[_Groups, np.ndarray]] = []
    n_kept = 0
    for _ in range(cfg.max_refill_rounds if filtering else 1):
        left = (cfg.rollout_budget - ctx.rollouts - paid) // cfg.group_size
        # a refill round asks only for the groups still missing: every policy pays for what it
        # needed to fill the batch, not for a fixed-size generation batch's surplus
        n = min(cfg.prompts_per_step - n_kept, left)
        if n <= 0:
            break
        with ctx.clock("curriculum"):
            ids = np.asarray(cur.sample(n), dtype=np.int64)
        groups = _rollout(ctx, ids)
        with ctx.clock("curriculum"):
            cur.update(ids, groups.rewards)
        paid += ids.size * cfg.group_size
        keep = np.ones(ids.size, bool)
        if filtering:
            keep = np.asarray(zpd.informative(groups.rewards), dtype=bool)  # (B,)
            keep &= np.cumsum(keep) + n_kept <= cfg.prompts_per_step
        kept_parts.append((groups, keep))
        n_kept += int(keep.sum())
        if n_kept >= cfg.prompts_per_step or not filtering:
            break
    return _concat_kept(kept_parts, cfg.group_size), kept_parts, paid


def _pad_cat(tensors: Sequence[torch.Tensor], value: float) -> torch.Tensor:
    """Concatenate (n_i, T_i) tensors along rows, right-padding to the longest T."""
    import torch.nn.functional as F

    T = max(t.shape[1] for t in tensors)
    return _cat([F.pad(t, (0, T - t.shape[1]), value=value) for t in tensors])


def _cat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    import torch

    return torch.cat(list(tensors), dim=0)


def _concat_kept(parts: Sequence[tuple[_Groups, np.ndarray]], G: int) -> _Groups:
    """The kept groups of several rounds as one _Groups (rows stay grouped by G)."""
    import torch

    sel = [(g, np.flatnonzero(k)) for g, k in parts if k.any()]
    if not sel:
        g0 = parts[0][0]
        empty = np.zeros((0, G))
        return _Groups(g0.ids[:0], [], g0.completion_ids[:0], g0.logprobs[:0],
                       g0.base_logprobs[:0], g0.lengths[:0], [], empty, empty, g0.prior_mean[:0])
    rows = [np.repeat(b, G) * G + np.tile(np.arange(G), b.size) for _, b in sel]
    return _Groups(
        ids=np.concatenate([g.ids[b] for g, b in sel]),
        prompt_ids=[g.prompt_ids[r] for (g, _), rr in zip(sel, rows) for r in rr],
        completion_ids=_pad_cat([g.completion_ids[torch.as_tensor(r)] for (g, _), r in
                                 zip(sel, rows)], 0),
        logprobs=_pad_cat([g.logprobs[torch.as_tensor(r)] for (g, _), r in zip(sel, rows)], 0.0),
        base_logprobs=_pad_cat(
            [g.base_logprobs[torch.as_tensor(r)] for (g, _), r in zip(sel, rows)], 0.0
        ),
        lengths=_cat([g.lengths[torch.as_tensor(r)] for (g, _), r in zip(sel, rows)]),
        texts=[g.texts[r] for (g, _), rr in zip(sel, rows) for r in rr],
        rewards=np.concatenate([g.rewards[b] for g, b in sel]),
        advantages=np.concatenate([g.advantages[b] for g, b in sel]),
        prior_mean=np.concatenate([g.prior_mean[b] for g, b in sel]),
    )


def _mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(N, T) bool: True on generated tokens (eos included)."""
    import torch

    return torch.arange(T)[None, :] < lengths[:, None]


# ----------------------------------------------------------------------------- the update
def _policy_update(ctx: _Context, batch: _Groups) -> dict[str, float]:
    """One on-policy GRPO step: token-mean of -A * log pi, plus kl_coef * k3 KL to the base.

    With one update per batch the PPO ratio is 1, so the clipped objective's gradient is the plain
    policy gradient (arXiv 2402.03300). Rows with zero advantage are skipped unless KL is on: they
    add nothing else to the gradient.
    """
    import torch

    from zpd.lab import model as gpt

    cfg = ctx.config
    N, T = batch.completion_ids.shape
    if N == 0:
        return {"lab/loss": 0.0, "lab/trained_rows": 0.0}
    mask = _mask(batch.lengths, T)  # (N, T)
    adv = torch.as_tensor(batch.advantages.reshape(-1), dtype=torch.float32)  # (N,)
    rows = torch.ones(N, dtype=torch.bool) if cfg.kl_coef > 0 else adv != 0
    n_tokens = mask.sum().clamp(min=1)
    if not bool(rows.any()):
        return {"lab/loss": 0.0, "lab/trained_rows": 0.0}
    idx = torch.nonzero(rows).flatten()
    prompts = [batch.prompt_ids[i] for i in idx.tolist()]
    ctx.model.train()
    prompt_t = gpt.left_pad(prompts, ctx.tokenizer.pad_id)[0]  # (n, Tp)
    logp = gpt.sequence_logprobs(ctx.model, prompt_t, batch.completion_ids[idx], mask[idx])
    m = mask[idx].float()
    loss = -(adv[idx, None] * logp * m).sum() / n_tokens
    if cfg.kl_coef > 0:
        d = batch.base_logprobs[idx] - logp  # log(base / pi)
        k3 = torch.exp(d) - d - 1.0  # (n, T) unbiased, non-negative KL estimator
        loss = loss + cfg.kl_coef * (k3 * m).sum() / n_tokens
    ctx.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(ctx.model.parameters(), cfg.grad_clip)
    ctx.optimizer.step()
    ctx.model.eval()
    return {
        "lab/loss": float(loss.detach()),
        "lab/grad_norm": float(gnorm),
        "lab/trained_rows": float(idx.numel()),
        "lab/trained_tokens": float(m.sum()),
    }


def _logprobs(
    model: Any, prompts: list[list[int]], comp: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """(N, T) per-token log-probs (temperature 1) of completions under ``model``, no grad."""
    import torch

    from zpd.lab import model as gpt

    prompt_t = gpt.left_pad(prompts, gpt.CharTokenizer.pad_id)[0]  # (N, Tp)
    with torch.no_grad():
        return gpt.sequence_logprobs(model, prompt_t, comp, _mask(lengths, comp.shape[1]))


def _base_logprobs(
    ctx: _Context, prompts: list[list[int]], comp: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """(N, T) base log-probs of every row, or (see ``kl_sample_rows``) of a random subset with
    NaN elsewhere; the subset comes from the run's numpy generator, not the sampler's."""
    import torch

    k, N = ctx.config.kl_sample_rows, comp.shape[0]
    if ctx.score_all_rows or k == 0 or N <= k:
        return _logprobs(ctx.base, prompts, comp, lengths)
    rows = np.sort(ctx.rng.choice(N, size=k, replace=False))
    idx = torch.as_tensor(rows)
    out = torch.full(comp.shape, float("nan"))
    out[idx] = _logprobs(ctx.base, [prompts[i] for i in rows], comp[idx], lengths[idx])
    return out


def _policy_logprobs(ctx: _Context, g: _Groups) -> torch.Tensor:
    """(N, T) log-probs under the current policy at temperature 1 (the KL's distribution)."""
    if ctx.config.temperature == 1.0:
        return g.logprobs
    return _logprobs(ctx.model, g.prompt_ids, g.completion_ids, g.lengths)


# ----------------------------------------------------------------------------- evaluation
def evaluate(
    model: Any,
    tokenizer: Any,
    eval_sets: Mapping[str, Sequence[Any]],
    *,
    temperature: float = 1.0,
    max_new_tokens: int = 24,
    generator: torch.Generator | None = None,
    greedy: bool = True,
    flag_sets: Sequence[str] = (),
) -> dict[str, float]:
    """Held-out accuracy per set: ``lab/eval/<set>/sampled`` (one sample per item at
    ``temperature``, scored by the verifier) and, if asked, ``lab/eval/<set>/greedy``. For the
    sets named in ``flag_sets``, the sampled completions' shortcut rates too:
    ``lab/eval/<set>/flag/<name>`` for each of ``tasks.shortcut_flags`` (wrong answers only,
    except skipped work) and ``lab/eval/<set>/flag/echo`` (the answer copies an operand).

    All sets go through one batched generate call per decoding mode (fast on CPU).
    """
    from zpd.lab import model as gpt
    from zpd.lab import tasks

    names = [n for n, items in eval_sets.items() if len(items)]
    items = [it for n in names for it in eval_sets[n]]
    if not items:
        return {}
    prompts = [tokenizer.encode(it.prompt) for it in items]
    spans = np.cumsum([0] + [len(eval_sets[n]) for n in names])
    modes = [("sampled", False)] + ([("greedy", True)] if greedy else [])
    out: dict[str, float] = {}
    was_training = model.training
    model.eval()
    for label, is_greedy in modes:
        comp, _, lengths = gpt.generate(
            model, prompts, max_new_tokens, temperature=temperature, greedy=is_greedy,
            generator=generator,
        )
        texts = decode_completions(tokenizer, comp, lengths)
        r = np.array([tasks.verify(it, t) for it, t in zip(items, texts)])  # (M,)
        for k, n in enumerate(names):
            out[f"lab/eval/{n}/{label}"] = float(r[spans[k] : spans[k + 1]].mean())
            if label == "sampled" and n in flag_sets:
                span = range(spans[k], spans[k + 1])
                out |= _flag_rates(n, [items[i] for i in span], [texts[i] for i in span])
    model.train(was_training)
    return out


def _flag_rates(name: str, items: Sequence[Any], texts: Sequence[str]) -> dict[str, float]:
    """Shortcut rates of one held-out set's completions (see :func:`evaluate`)."""
    from zpd.lab import tasks

    flags = [tasks.shortcut_flags(it, t) for it, t in zip(items, texts)]
    out = {f"lab/eval/{name}/flag/{k}": float(np.mean([f[k] for f in flags]))
           for k in tasks.SHORTCUT_NAMES}
    out[f"lab/eval/{name}/flag/echo"] = float(np.mean(
        [tasks.echoes_input(it, t) for it, t in zip(items, texts)]))
    return out


# ----------------------------------------------------------------------------- step metrics
def _step_metrics(ctx: _Context, rounds: Sequence[_Groups], kept: _Groups) -> dict[str, float]:
    """The step's rollout statistics over every sampled group (dropped ones included)."""
    import zpd
    from zpd.lab import tasks

    G = ctx.config.group_size
    ids = np.concatenate([g.ids for g in rounds])  # (B,)
    rewards = np.concatenate([g.rewards for g in rounds])  # (B, G)
    texts = [t for g in rounds for t in g.texts]
    items = [ctx.pool[int(i)] for i in ids]
    row_items = [it for it in items for _ in range(G)]
    lengths = _cat([g.lengths for g in rounds]).numpy()  # (N,)
    informative = np.asarray(zpd.informative(rewards), dtype=bool)
    m: dict[str, float] = {
        "curriculum/groups_sampled": float(ids.size),
        "curriculum/groups_kept": float(kept.ids.size),
        "curriculum/informative_frac": float(informative.mean()),
        "curriculum/mean_n_digits": float(np.mean([it.n_digits for it in items])),
        "curriculum/est_mean": float(np.mean(np.concatenate([g.prior_mean for g in rounds]))),
        "lab/reward_mean": float(rewards.mean()),
        "lab/mean_len": float(lengths.mean()),
        "lab/truncated_frac": float(np.mean(_truncated(ctx, rounds))),
        **ctx.curriculum.coverage(),
    }
    if ctx.tiers is not None:
        tiers = ctx.tiers[ids]
        for name in ctx.tier_names:
            m[f"curriculum/share_{name}"] = float(np.mean(tiers == name))
    fmts = [tasks.format_of(t) for t in texts]
    for f in sorted(set(fmts) | set(ctx.known_formats)):
        m[f"lab/format_share/{f}"] = float(np.mean([x == f for x in fmts]))
    flags = [tasks.shortcut_flags(it, t) for it, t in zip(row_items, texts)]
    for name in sorted({k for f in flags for k in f}):
        m[f"lab/shortcut/{name}"] = float(np.mean([f.get(name, False) for f in flags]))
    m["lab/shortcut/any"] = float(np.mean([any(f.values()) for f in flags]))
    m.update(_kl_metrics(ctx, rounds))
    return m


def _truncated(ctx: _Context, rounds: Sequence[_Groups]) -> np.ndarray:
    """(N,) bool: the completion hit max_new_tokens without an end-of-sequence token."""
    eos = ctx.tokenizer.eos_id
    out = []
    for g in rounds:
        last = g.completion_ids.gather(1, (g.lengths - 1).clamp(min=0)[:, None])[:, 0]
        out.append((last != eos).numpy())
    return np.concatenate(out)


def _kl_metrics(ctx: _Context, rounds: Sequence[_Groups]) -> dict[str, float]:
    """Mean per-token KL(policy || base), k3 estimator on the step's own samples (the rows the
    base scored, see ``kl_sample_rows``)."""
    import torch

    total, count, seq = 0.0, 0.0, []
    for g in rounds:
        scored = ~torch.isnan(g.base_logprobs[:, 0])  # (N,) rows the base scored
        pol = _policy_logprobs(ctx, g)[scored]
        base = g.base_logprobs[scored]
        mask = _mask(g.lengths[scored], g.completion_ids.shape[1]).float()
        d = (base - pol) * mask
        k3 = (torch.exp(d) - d - 1.0) * mask  # (n, T)
        total += float(k3.sum())
        count += float(mask.sum())
        seq.append(((pol - base) * mask).sum(1))  # (n,) sequence log-ratio
    return {
        "lab/kl_base": total / max(count, 1.0),
        "lab/kl_base_seq": float(torch.cat(seq).mean()),
    }


# ----------------------------------------------------------------------------- the loop
@dataclass
class _Context:
    """The run's mutable state, passed to the helpers above (one place to read it all)."""

    config: RLConfig
    model: Any
    base: Any
    tokenizer: Any
    pool: Sequence[Any]
    encoded_prompts: list[list[int]]
    curriculum: Any
    optimizer: Any
    torch_gen: Any
    advantage_kind: Any
    tiers: np.ndarray | None
    tier_names: tuple[str, ...]
    known_formats: tuple[str, ...]
    max_new_tokens: int
    eval_tokens: int
    rng: np.random.Generator
    score_all_rows: bool
    drift: Any = None
    rollouts: int = 0
    dropped: int = 0
    tokens: int = 0
    step: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # time per part of a step
    trained: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,) steps

    @contextlib.contextmanager
    def clock(self, part: str) -> Iterator[None]:
        """Add the wall time of the ``with`` body to ``seconds[part]``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - t


def completion_budget(items: Sequence[Any], margin: int = 2) -> int:
    """Tokens enough for the longest faithful completion of ``items`` in any allowed format."""
    from zpd.lab import tasks

    longest = 1
    for it in items:
        fmts = tasks.ALLOWED[tasks.parse_op(it.op)] if it.fmt == "any" else (it.fmt,)
        longest = max(longest, *(len(tasks.render_completion(it, f)) for f in fmts))
    return longest + margin


def _make_context(
    config: RLConfig, base_dir: str | os.PathLike[str], pool: Sequence[Any],
    tiers: Sequence[str] | None, eval_sets: Mapping[str, Sequence[Any]],
    score_all_rows: bool = False,
) -> _Context:
    import torch

    import zpd
    from zpd.lab import model as gpt
    from zpd.lab import tasks

    if len(pool) == 0:
        raise RLConfigError("the RL pool is empty; pass at least one task item")
    if tiers is not None and len(tiers) != len(pool):
        raise RLConfigError(f"tiers has {len(tiers)} labels for {len(pool)} pool items")
    torch.manual_seed(config.seed)
    model, tokenizer = gpt.load_pretrained(base_dir)
    base, _ = gpt.load_pretrained(base_dir)
    base.eval().requires_grad_(False)
    model.eval()
    features = tasks.items_to_features(list(pool))
    cur = zpd.Curriculum(
        num_items=len(pool), policy=config.policy, group_size=config.group_size,
        seed=config.seed, features=features, **config.curriculum_kwargs,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    tier_arr = None if tiers is None else np.asarray(list(tiers), dtype=object)
    return _Context(
        config=config, model=model, base=base, tokenizer=tokenizer, pool=pool,
        encoded_prompts=[tokenizer.encode(it.prompt) for it in pool], curriculum=cur,
        optimizer=opt, torch_gen=torch.Generator().manual_seed(config.seed),
        advantage_kind=_parse_advantage(config.advantage), tiers=tier_arr,
        tier_names=tuple(dict.fromkeys(tiers)) if tiers is not None else (),
        known_formats=tuple(sorted({it.fmt for it in pool})),
        max_new_tokens=config.max_new_tokens or completion_budget(pool),
        eval_tokens=config.max_new_tokens
        or completion_budget([it for items in eval_sets.values() for it in items] or pool),
        rng=np.random.default_rng([config.seed, 17]),
        score_all_rows=score_all_rows or config.kl_coef > 0,
        drift=_drift_budget(config.drift_budget),
        trained=np.zeros(len(pool), dtype=np.int64),
    )


def _drift_budget(budget: float | None) -> Any:
    if budget is None:
        return None
    from zpd.monitors import DriftBudget, DriftBudgetConfig

    return DriftBudget(DriftBudgetConfig(budget=float(budget)))


def _monitor_inputs(ctx: _Context, parts: Sequence[tuple[_Groups, np.ndarray]]) -> tuple[Any, Any]:
    """The step's rollouts as a ``zpd.monitors.RolloutBatch`` (every sampled group, dropped ones
    too) and a ``MonitorContext`` holding the posterior from *before* this step's updates."""
    from zpd.lab import tasks
    from zpd.monitors import MonitorContext, RolloutBatch

    rounds = [g for g, _ in parts]
    ids = np.concatenate([g.ids for g in rounds])  # (B,)
    items = [ctx.pool[int(i)] for i in ids]
    G = ctx.config.group_size
    texts = [t for g in rounds for t in g.texts]
    lengths = _cat([g.lengths for g in rounds])  # (N,)
    T = max(g.completion_ids.shape[1] for g in rounds)
    comp = _pad_cat([g.completion_ids for g in rounds], ctx.tokenizer.pad_id)  # (N, T)
    batch = RolloutBatch(
        item_ids=np.repeat(ids, G),
        group=np.repeat(np.arange(ids.size), G),
        rewards=np.concatenate([g.rewards for g in rounds]).reshape(-1),
        completions=texts,
        answers=[tasks.extract_answer(t) for t in texts],
        lengths=lengths.numpy(),
        truncated=_truncated(ctx, rounds),
        completion_ids=comp.numpy(),
        logprobs=_pad_cat([_policy_logprobs(ctx, g) for g in rounds], 0.0).numpy(),
        base_logprobs=_pad_cat([g.base_logprobs for g in rounds], 0.0).numpy(),
        token_mask=_mask(lengths, T).numpy(),
        formats=[tasks.format_of(t) for t in texts],
        prompts=[it.prompt for it in items for _ in range(G)],
        targets=[it.answer for it in items for _ in range(G)],
        advantages=np.concatenate([g.advantages for g in rounds]).reshape(-1),
    )
    prior = dict(zip(ids.tolist(), np.concatenate([g.prior_mean for g in rounds]).tolist()))

    def pass_rate(query: np.ndarray) -> np.ndarray:
        q = np.asarray(query, dtype=np.int64)
        now = np.asarray(ctx.curriculum.estimate(q).mean, dtype=np.float64)
        return np.array([prior.get(int(i), m) for i, m in zip(q, now)])

    context = MonitorContext(step=ctx.step, pass_rate=pass_rate, curriculum=ctx.curriculum)
    return batch, context


def _run_monitors(ctx: _Context, monitors: Sequence[Monitor],
                  parts: Sequence[tuple[_Groups, np.ndarray]]) -> tuple[dict[str, float], list[Any]]:
    """Metrics and alerts of every monitor on this step's rollouts."""
    if not monitors:
        return {}, []
    batch, context = _monitor_inputs(ctx, parts)
    metrics: dict[str, float] = {}
    alerts: list[Any] = []
    for monitor in monitors:
        res = monitor(batch, context)
        if isinstance(res, Mapping):
            metrics |= {str(k): float(v) for k, v in res.items()}
        else:
            metrics |= {str(k): float(v) for k, v in getattr(res, "metrics", {}).items()}
            alerts += list(getattr(res, "alerts", []))
    return metrics, alerts


def run_rl(
    config: RLConfig,
    base_dir: str | os.PathLike[str],
    pool: Sequence[Any],
    out_dir: str | os.PathLike[str],
    sink: Sink | None = None,
    *,
    eval_sets: Mapping[str, Sequence[Any]] | None = None,
    tiers: Sequence[str] | None = None,
    monitors: Sequence[Monitor] = (),
    progress: Callable[[int], None] | None = None,
    save_model: bool = False,
    retention_sets: Sequence[str] | None = None,
    flag_sets: Sequence[str] = (),
) -> RunResult:
    """GRPO from the base checkpoint in ``base_dir`` on ``pool`` (task items) until the budget.

    ``eval_sets`` maps a set name (e.g. easy, inband, hard, prior) to held-out items evaluated
    at step 0, every ``eval_every`` steps and at the end (sampled; greedy too at the first and
    last evaluation). ``tiers`` labels each pool item (e.g. easy/band/hard) for the
    ``curriculum/share_<tier>`` metrics. ``sink`` gets one row per step (default: a
    ``zpd.monitors.JsonlSink`` on ``out_dir/metrics.jsonl``, readable live by ``zpd watch``);
    ``monitors`` see each step's rollouts (see :data:`Monitor`). ``progress`` is called with the
    rollouts each step spent. ``retention_sets`` (default: ``prior`` if it is an eval set) are
    tested live by the ``retention`` monitor at every evaluation (:mod:`zpd.lab.retention`):
    ``health/retention/…`` metrics and alerts land in the step's row, so ``zpd watch`` shows
    them during the run. ``flag_sets`` names eval sets whose shortcut rates are measured at
    every evaluation (see :func:`evaluate`). Returns the rows (also kept in memory) and totals.
    """
    from zpd.lab import model as gpt
    from zpd.monitors import JsonlSink

    eval_sets = dict(eval_sets or {})
    unknown = sorted(set(flag_sets) - set(eval_sets))
    if unknown:
        raise RLConfigError(f"flag_sets {unknown} are not eval sets ({sorted(eval_sets)})")
    ctx = _make_context(config, base_dir, pool, tiers, eval_sets, score_all_rows=bool(monitors))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    retention = _live_retention(eval_sets, retention_sets)
    resumable = sink is None and config.checkpoint_every > 0
    identity = _identity(config, base_dir, pool, eval_sets, monitors, retention_sets, flag_sets)
    kept = _resume(ctx, out, identity, monitors, retention) if resumable else None
    if kept is None and sink is None:  # a fresh run: no stale rows or state of an older one
        (out / "metrics.jsonl").unlink(missing_ok=True)
        shutil.rmtree(out / STATE_DIR, ignore_errors=True)
    rows = ListSink()
    rows.rows = list(kept or [])
    target: Sink = JsonlSink(out) if sink is None else sink
    t0 = time.perf_counter()
    try:
        if kept is None:
            first = _eval_metrics(ctx, eval_sets, greedy=True, flag_sets=flag_sets)
            extra, first_alerts = retention(0, first)
            first |= extra | _totals(ctx, t0)
            for s in (rows, target):
                s.log(0, first, first_alerts)
        elif progress is not None and ctx.rollouts:
            progress(ctx.rollouts)
        while config.rollout_budget - ctx.rollouts >= config.group_size:
            metrics, alerts, paid = _train_step(ctx, monitors)
            done = config.rollout_budget - ctx.rollouts < config.group_size or paid == 0
            if ctx.step % config.eval_every == 0 or done:
                metrics |= _eval_metrics(ctx, eval_sets, greedy=done, flag_sets=flag_sets)
                extra, found = retention(ctx.step, metrics)
                metrics |= extra
                alerts = [*alerts, *found]
            metrics |= _totals(ctx, t0)
            for s in (rows, target):
                s.log(ctx.step, metrics, alerts)
            if resumable and not done and ctx.step % config.checkpoint_every == 0:
                _save_state(ctx, out, identity, monitors, retention)
            if progress is not None:
                progress(paid)
            if paid == 0:
                break
    finally:
        if sink is None:
            target.close()
    model_dir = gpt.save_pretrained(ctx.model, ctx.tokenizer, out / "model") if save_model else None
    seconds = time.perf_counter() - t0
    summary = {"config": config.to_dict(), "steps": ctx.step, "rollouts": ctx.rollouts,
               "dropped": ctx.dropped, "tokens": ctx.tokens, "seconds": seconds,
               "seconds_by_part": dict(ctx.seconds),
               "distinct_trained": int(np.count_nonzero(ctx.trained))}
    from zpd.core.atomic import atomic_write_bytes

    atomic_write_bytes(out / "run.json", strict_dumps(summary, indent=2).encode())
    return RunResult(rows.rows, out, ctx.step, ctx.rollouts, seconds, model_dir)


STATE_DIR = "state"
"""Where :func:`run_rl` keeps its resumable state (``zpd.lab.checkpoint`` layout)."""


def _identity(config: RLConfig, base_dir: str | os.PathLike[str], pool: Sequence[Any],
              eval_sets: Mapping[str, Sequence[Any]], monitors: Sequence[Monitor],
              retention_sets: Sequence[str] | None, flag_sets: Sequence[str]) -> dict[str, Any]:
    """What a saved state must match to be resumed: settings, base, pool, eval sets, monitors."""
    import hashlib

    h = hashlib.sha256()
    for it in pool:
        h.update(f"{it.prompt}\x00{it.answer}\x01".encode())
    for name in sorted(eval_sets):
        h.update(f"[{name}]".encode())
        for it in eval_sets[name]:
            h.update(f"{it.prompt}\x00{it.answer}\x01".encode())
    return {"config": config.to_dict(), "base": str(Path(base_dir).resolve()),
            "data_sha256": h.hexdigest(), "monitors": [type(m).__name__ for m in monitors],
            "retention_sets": None if retention_sets is None else list(retention_sets),
            "flag_sets": list(flag_sets)}


def _save_state(ctx: _Context, out: Path, identity: Mapping[str, Any],
                monitors: Sequence[Monitor], retention: Any) -> None:
    """Checkpoint everything the rest of the run depends on (see ``RLConfig.checkpoint_every``)."""
    import torch

    from zpd.lab import checkpoint

    tensors = {"rng.sampler": ctx.torch_gen.get_state(), "rng.torch": torch.get_rng_state(),
               "trained": torch.from_numpy(ctx.trained.copy())}
    meta = {
        "identity": identity,
        "counters": {"rollouts": ctx.rollouts, "dropped": ctx.dropped, "tokens": ctx.tokens,
                     "step": ctx.step},
        "seconds": ctx.seconds,
        "numpy_rng": ctx.rng.bit_generator.state,
        "monitors": [m.state_dict() if hasattr(m, "state_dict") else None for m in monitors],
        "retention": retention.monitor.state_dict() if hasattr(retention, "monitor") else None,
        "drift": ctx.drift.state_dict() if ctx.drift is not None else None,
    }
    checkpoint.save(out / STATE_DIR, ctx.step, ctx.model, ctx.optimizer, tensors, meta,
                    before_latest=lambda d: ctx.curriculum.save(d / "curriculum.zpd"))


def _resume(ctx: _Context, out: Path, identity: Mapping[str, Any], monitors: Sequence[Monitor],
            retention: Any) -> list[dict[str, Any]] | None:
    """Restore the saved state into ``ctx`` and return the metric rows up to its step (the
    metrics log is cut there); None when there is no state for these exact settings."""
    import torch

    from zpd.core.state import read_state
    from zpd.lab import checkpoint

    found = checkpoint.read(out / STATE_DIR)
    if found is None:
        return None
    meta, weights, tensors = found
    if meta.get("identity") != json.loads(strict_dumps(identity)):
        return None  # other settings: start over
    step = int(meta["counters"]["step"])
    rows = _rows_until(out / "metrics.jsonl", step)
    if rows is None:
        return None
    checkpoint.restore(ctx.model, ctx.optimizer, meta, weights, tensors)
    header, arrays = read_state(out / STATE_DIR / f"step-{step:08d}" / "curriculum.zpd")
    ctx.curriculum.load_state_dict({"header": header, "arrays": arrays})
    ctx.torch_gen.set_state(tensors["rng.sampler"])
    torch.set_rng_state(tensors["rng.torch"])
    ctx.rng.bit_generator.state = meta["numpy_rng"]
    ctx.trained = tensors["trained"].numpy().astype(np.int64)
    for key in ("rollouts", "dropped", "tokens", "step"):
        setattr(ctx, key, int(meta["counters"][key]))
    ctx.seconds = {str(k): float(v) for k, v in meta["seconds"].items()}
    for m, st in zip(monitors, meta["monitors"]):
        if st is not None and hasattr(m, "load_state_dict"):
            m.load_state_dict(st)
    if meta["retention"] is not None and hasattr(retention, "monitor"):
        retention.monitor.load_state_dict(meta["retention"])
    if meta["drift"] is not None and ctx.drift is not None:
        ctx.drift.load_state_dict(meta["drift"])
    return rows


def _rows_until(path: Path, step: int) -> list[dict[str, Any]] | None:
    """Flat rows of ``path`` with step <= ``step``, rewriting the file to hold just those lines
    (later steps were logged after the checkpoint and will be run again); None if the log does
    not reach ``step``."""
    from zpd.core.atomic import atomic_write_bytes

    if not path.is_file():
        return None
    keep: list[bytes] = []
    rows: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                rec = json.loads(raw)
                s = int(rec["step"])
            except (ValueError, KeyError, TypeError):
                break  # a torn last line
            if s > step:
                break
            keep.append(raw if raw.endswith(b"\n") else raw + b"\n")
            rows.append({"step": s, **{k: float("nan") if v is None else v
                                       for k, v in rec.get("metrics", {}).items()}})
    if not rows or rows[-1]["step"] != step:
        return None
    atomic_write_bytes(path, b"".join(keep))
    return rows


def _live_retention(eval_sets: Mapping[str, Sequence[Any]], names: Sequence[str] | None) -> Any:
    """The live retention test of the named eval sets (a no-op when there are none)."""
    from zpd.lab.retention import EvalRetention

    names = [n for n in (("prior",) if names is None else names) if len(eval_sets.get(n, ()))]
    if not names:
        return lambda step, metrics: ({}, [])
    return EvalRetention({n: len(eval_sets[n]) for n in names})


def _train_step(ctx: _Context, monitors: Sequence[Monitor]) -> tuple[dict[str, float], list[Any], int]:
    """Collect one step's groups, log their statistics, run monitors, update the policy."""
    ctx.step += 1
    t_step = time.perf_counter()
    kept, parts, paid = _collect(ctx)
    ctx.rollouts += paid
    ctx.dropped += paid - kept.ids.size * ctx.config.group_size
    if paid == 0:
        return {}, [], 0
    ctx.tokens += int(sum(int(g.lengths.sum()) for g, _ in parts))
    metrics = _step_metrics(ctx, [g for g, _ in parts], kept)
    if ctx.drift is not None:  # KL of this step's samples -> pressure for the next sample()
        metrics["curriculum/drift_pressure"] = ctx.drift.update(max(metrics["lab/kl_base"], 0.0))
        ctx.drift.apply(ctx.curriculum)
    with ctx.clock("monitors"):
        extra, alerts = _run_monitors(ctx, monitors, parts)
    metrics |= extra
    with ctx.clock("training"):
        metrics |= _policy_update(ctx, kept)
    np.add.at(ctx.trained, np.unique(kept.ids), 1)
    metrics["lab/step_seconds"] = time.perf_counter() - t_step
    return metrics, alerts, paid


def _eval_metrics(ctx: _Context, eval_sets: Mapping[str, Sequence[Any]], greedy: bool,
                  flag_sets: Sequence[str] = ()) -> dict[str, float]:
    """Held-out accuracy now. The sampler's seed depends on (seed, step) only, so arms of one
    seed share their evaluation randomness (common random numbers across policies)."""
    if not eval_sets:
        return {}
    import torch

    gen = torch.Generator().manual_seed(ctx.config.seed * 1_000_003 + 7919 * (ctx.step + 1))
    with ctx.clock("eval"):
        return evaluate(
            ctx.model, ctx.tokenizer, eval_sets, temperature=ctx.config.temperature,
            max_new_tokens=ctx.eval_tokens, generator=gen, greedy=greedy, flag_sets=flag_sets,
        )


def _totals(ctx: _Context, t0: float) -> dict[str, float]:
    trained = ctx.trained
    return {
        **{f"lab/time/{part}": float(v) for part, v in sorted(ctx.seconds.items())},
        "lab/coverage/distinct": float(np.count_nonzero(trained)),
        "lab/coverage/max_share": float(trained.max() / ctx.step) if ctx.step else 0.0,
        "curriculum/rollouts": float(ctx.rollouts),
        "curriculum/rollouts_dropped": float(ctx.dropped),
        "lab/tokens_generated": float(ctx.tokens),
        "lab/seconds": time.perf_counter() - t0,
    }
