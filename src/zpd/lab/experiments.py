"""The demo's experiment: several curriculum policies on one pool, one base, one rollout budget.

What it is: :class:`ExperimentConfig` (the base's pretraining, the pool, the GRPO settings, the
policies and seeds) and :func:`run_experiment`, which pretrains (or reuses the cached) base,
builds the pool and its held-out sets once, runs every (policy, seed) arm one after another
(two arms at once on a 2-core CPU slow each ~5x), and writes the metrics and the report.
Every arm gets the same pool, the same base and the same rollout budget; dapo's dropped rollouts
count against it. :func:`demo_config` holds the defaults of ``zpd demo`` (and ``--quick``).

What it is not: the GRPO loop (:mod:`zpd.lab.rl`), the plots (:mod:`zpd.lab.report`) or the
command line (:mod:`zpd.cli.demo`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zpd.core.errors import ConfigError
from zpd.lab.pretrain import PretrainConfig, load_eval, pretrain, task_config_to_dict
from zpd.lab.rl import RLConfig, run_rl


class ExperimentConfigError(ConfigError):
    """A demo/experiment setting is invalid; the message names the field and the fix."""


def _default_pool() -> Any:
    from zpd.lab import tasks

    return tasks.PoolConfig()


@dataclass(frozen=True)
class ExperimentConfig:
    """One comparison of curriculum policies (the demo is one)."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """How the base is trained (cached by a hash of this config)."""
    pool: Any = field(default_factory=_default_pool)
    """``tasks.PoolConfig``: the RL pool (too easy / in band / too hard) and held-out sets."""
    rl: RLConfig = field(default_factory=RLConfig)
    """GRPO settings shared by every arm (its ``policy`` and ``seed`` are set per arm)."""
    policies: tuple[str, ...] = ("uniform", "dapo", "mopps", "zpd")
    """Curriculum policies compared (``uniform`` is the baseline of the rollouts-to-target table)."""
    seeds: tuple[int, ...] = (0, 1)
    """RL seeds; every policy runs once per seed."""
    pool_seed: int = 0
    """Seed of the pool and held-out sets (the same for every arm)."""
    description: str = ""
    """One paragraph for the report: what the base saw and what the pool holds."""
    monitors: bool = True
    """Attach ``zpd.monitors.MonitorSuite`` to every arm: ``health/…`` metrics and alerts land
    in each run's ``metrics.jsonl``, so ``zpd watch RUN_DIR`` reads a demo arm like any run.
    They only observe (no drift steering; that is ``rl.drift_budget``) and cost the base
    model's forward pass on every rollout."""

    def __post_init__(self) -> None:
        from zpd.lab import tasks

        if not isinstance(self.pool, tasks.PoolConfig):
            raise ExperimentConfigError("ExperimentConfig.pool must be a tasks.PoolConfig")
        pols = (self.policies,) if isinstance(self.policies, str) else tuple(self.policies)
        if not pols or len(set(pols)) != len(pols):
            raise ExperimentConfigError(
                f"ExperimentConfig.policies={self.policies!r}: give distinct policy names"
            )
        for p in pols:
            RLConfig(**{**_rl_kwargs(self.rl), "policy": p})  # validates the name early
        seeds = tuple(int(s) for s in self.seeds)
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ExperimentConfigError(
                f"ExperimentConfig.seeds={self.seeds!r}: give distinct non-negative seeds"
            )
        object.__setattr__(self, "policies", pols)
        object.__setattr__(self, "seeds", seeds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, for the report."""
        pool = {
            f.name: (
                [task_config_to_dict(b) for b in getattr(self.pool, f.name)]
                if f.name == "prior"
                else task_config_to_dict(getattr(self.pool, f.name))
                if f.name in ("easy", "band", "hard")
                else getattr(self.pool, f.name)
            )
            for f in dataclasses.fields(self.pool)
        }
        return {
            "pretrain": self.pretrain.to_dict(),
            "pool": pool,
            "rl": self.rl.to_dict(),
            "policies": list(self.policies),
            "seeds": list(self.seeds),
            "pool_seed": self.pool_seed,
            "monitors": self.monitors,
        }


def _rl_kwargs(rl: RLConfig) -> dict[str, Any]:
    return {f.name: getattr(rl, f.name) for f in dataclasses.fields(rl)}


def demo_config(quick: bool = False, seeds: int = 2, preset: str | None = None) -> ExperimentConfig:
    """The defaults of ``zpd demo`` (<= 15 min on a 2-core CPU incl. pretraining from nothing)
    and of ``zpd demo --quick`` (<= 5 min): same pool design, fewer steps and rollouts."""
    if not isinstance(seeds, int) or seeds < 1:
        raise ExperimentConfigError(f"seeds={seeds!r}: give a positive number of seeds")
    if quick:
        pre = PretrainConfig(mix=_quick_mix(), steps=600, preset=preset or "small")
        rl = RLConfig(rollout_budget=2048, eval_every=2)
        return ExperimentConfig(pretrain=pre, pool=_quick_pool(), rl=rl,
                                seeds=tuple(range(seeds)), description=QUICK_DESCRIPTION)
    pre = PretrainConfig(steps=1500, preset=preset or "small")
    rl = RLConfig(rollout_budget=6144, eval_every=4)
    return ExperimentConfig(pretrain=pre, rl=rl, seeds=tuple(range(seeds)),
                            description=DESCRIPTION)


def _quick_mix() -> tuple[Any, ...]:
    """--quick's base: string reversal and rotation only (a 0.6M GPT learns them in ~600 steps,
    addition needs ~1500): 1-2 characters clean, 3-5 with half the answers corrupted, and the
    'reversed' output format clean (the prior skill RL does not train)."""
    from zpd.lab import tasks

    ops = ("rev", "shift")
    return (
        tasks.TaskConfig(ops=ops, formats=("direct", "any"), digits=(1, 2)),
        tasks.TaskConfig(ops=ops, formats=("direct", "any"), digits=(3, 5), label_noise=0.5,
                         weight=2.0),
        tasks.TaskConfig(ops=ops, formats=("reversed",), digits=(1, 5)),
    )


def _quick_pool() -> Any:
    """--quick's pool: the same ops, too easy (1-2), in band (3-5), too hard (7-8, never seen)."""
    from zpd.lab import tasks

    ops, fmts = ("rev", "shift"), ("direct", "any")
    return tasks.PoolConfig(
        easy=tasks.TaskConfig(ops=ops, formats=fmts, digits=(1, 2), n_items=200),
        band=tasks.TaskConfig(ops=ops, formats=fmts, digits=(3, 5), n_items=200),
        hard=tasks.TaskConfig(ops=ops, formats=fmts, digits=(7, 8), n_items=200),
        prior=(tasks.TaskConfig(ops=ops, formats=("reversed",), digits=(2, 5), n_items=128),),
    )


@dataclass(frozen=True)
class Arm:
    """One (policy, seed) run."""

    policy: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.policy}-s{self.seed}"


def arms(config: ExperimentConfig) -> list[Arm]:
    """Arms in run order: seeds outer, policies inner (a partial run still compares policies)."""
    return [Arm(p, s) for s in config.seeds for p in config.policies]


def eval_sets(pool: Any) -> dict[str, list[Any]]:
    """The held-out sets of a ``tasks.Pool``: easy, inband, hard (drawn like the pool's three
    blocks) and prior (skills the base saw that RL does not train)."""
    return {
        "easy": list(pool.eval_easy),
        "inband": list(pool.eval_band),
        "hard": list(pool.eval_hard),
        "prior": list(pool.eval_prior),
    }


def add_heldout(metrics: dict[str, Any]) -> dict[str, Any]:
    """Add ``lab/eval/heldout/<mode>``: the mean of easy, inband and hard (the pool's mix, which
    has the three blocks in equal shares) — the headline accuracy."""
    for mode in ("sampled", "greedy"):
        keys = [f"lab/eval/{s}/{mode}" for s in ("easy", "inband", "hard")]
        if all(k in metrics for k in keys):
            metrics[f"lab/eval/heldout/{mode}"] = float(np.mean([metrics[k] for k in keys]))
    return metrics


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
    base_dir: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Pretrain (or reuse) the base, run every arm, write the report; returns report.html's path.

    Files in ``out_dir``: ``report.html``, ``summary.json``, ``metrics.jsonl`` and
    ``metrics.parquet`` (all arms), ``runs/<policy>-s<seed>/`` (each arm's rows and totals).
    An arm whose ``run.json`` exists from an earlier run with the same settings is reused.
    ``base_dir`` pretrains into that folder instead of the cache.
    """
    from zpd.lab import tasks
    from zpd.lab.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log(f"[zpd demo] base model: pretraining or reusing ({config.pretrain.steps} steps, "
        f"preset {config.pretrain.preset})")
    base = pretrain(config.pretrain, base_dir, progress)
    log(f"[zpd demo] base model ready in {base} ({time.perf_counter() - t0:.0f} s)")
    pool = tasks.make_pool(config.pool, seed=config.pool_seed)
    sets = eval_sets(pool)
    tiers = [tasks.BANDS[int(b)] for b in pool.band_of]
    rows: list[dict[str, Any]] = []
    todo = arms(config)
    bar = _bar(len(todo) * config.rl.rollout_budget, progress)
    timings: dict[str, float] = {}
    for k, arm in enumerate(todo):
        if bar is not None:
            bar.set_description(f"RL {arm.name} ({k + 1}/{len(todo)})")
        else:
            log(f"[zpd demo] RL arm {k + 1}/{len(todo)}: {arm.name}")
        t_arm = time.perf_counter()
        rows += _run_arm(config, arm, base, pool, sets, tiers, out, bar)
        timings[arm.name] = time.perf_counter() - t_arm
    if bar is not None:
        bar.close()
    meta = {
        "description": config.description,
        "base_dir": str(base),
        "pool_items": len(pool.train),
        "pool_blocks": {b: int(np.sum(pool.band_of == i)) for i, b in enumerate(tasks.BANDS)},
        "base_sampled_accuracy_by_block": base_accuracy_by_block(base, config.pool),
        "eval_items": {k: len(v) for k, v in sets.items()},
        "seconds_total": time.perf_counter() - t0,
        "seconds_per_arm": timings,
        "settings": config.to_dict(),
    }
    path = write_report(rows, out, meta)
    log(f"[zpd demo] done in {time.perf_counter() - t0:.0f} s; report: {path.resolve()}")
    return path


DESCRIPTION = (
    "A 0.6M-parameter char-level GPT was pretrained on digit tasks (least-significant-digit-first "
    "addition in five formats, string ops) with half of the 3-5-digit answers corrupted, so it "
    "samples the right answer only part of the time. GRPO then trains it on a pool of additions "
    "too easy (1-2 digits), in band (3-5 digits) or too hard (6-8 digits, never seen) for it, "
    "with prompts chosen by each curriculum policy under the same rollout budget (dapo's dropped "
    "rollouts count). Accuracies are pass@1 at the sampling temperature on held-out items; "
    "'prior' are ops/formats the base saw that RL never trains (string ops, scratchpad and "
    "carry-trace addition)."
)
QUICK_DESCRIPTION = (
    "--quick: a 0.6M-parameter char-level GPT pretrained for 600 steps on string reversal and "
    "rotation (1-2 characters clean, 3-5 with half the answers corrupted, the 'reversed' output "
    "format clean). GRPO on a pool of those ops too easy (1-2), in band (3-5) or too hard (7-8, "
    "never seen), each curriculum policy with the same rollout budget (dapo's dropped rollouts "
    "count). Accuracies are pass@1 at the sampling temperature on held-out items; 'prior' is the "
    "'reversed' output format, which RL never trains."
)


def _run_arm(config: ExperimentConfig, arm: Arm, base: Path, pool: Any,
             sets: dict[str, list[Any]], tiers: list[str], out: Path, bar: Any
             ) -> list[dict[str, Any]]:
    """Run one arm (or reuse its finished rows) and return its metric rows."""
    rl_cfg = dataclasses.replace(config.rl, policy=arm.policy, seed=arm.seed)
    arm_dir = out / "runs" / arm.name
    done_file = arm_dir / "run.json"
    metrics_file = arm_dir / "metrics.jsonl"
    if done_file.is_file() and metrics_file.is_file():
        prev = json.loads(done_file.read_text())
        if (prev.get("config") == rl_cfg.to_dict() and prev.get("base") == str(base)
                and prev.get("monitors", False) == config.monitors):
            if bar is not None:
                bar.update(config.rl.rollout_budget)
            return _tagged(_read_run_rows(metrics_file), arm)
    if metrics_file.exists():
        metrics_file.unlink()  # a partial arm from an interrupted run: start it over
    res = run_rl(rl_cfg, base, pool.train, arm_dir, eval_sets=sets, tiers=tiers,
                 monitors=_monitors(config), progress=None if bar is None else bar.update)
    _mark_done(done_file, rl_cfg, base, res.rollouts, monitors=config.monitors)
    return _tagged(res.rows, arm)


def _tagged(rows: Sequence[dict[str, Any]], arm: Arm) -> list[dict[str, Any]]:
    """Rows with the arm's tags and the headline metric added."""
    return [add_heldout({"policy": arm.policy, "seed": arm.seed, "arm": arm.name, **r})
            for r in rows]


def _mark_done(path: Path, rl_cfg: RLConfig, base: Path, rollouts: int, *,
               monitors: bool) -> None:
    from zpd.core.atomic import atomic_write_bytes

    info = json.loads(path.read_text()) if path.is_file() else {}
    info.update({"config": rl_cfg.to_dict(), "base": str(base), "rollouts": rollouts,
                 "monitors": monitors})
    atomic_write_bytes(path, json.dumps(info, indent=2).encode())


def _monitors(config: ExperimentConfig) -> tuple[Any, ...]:
    """The health monitors every arm runs (none when ``config.monitors`` is off)."""
    if not config.monitors:
        return ()
    from zpd.monitors import MonitorSuite

    # Observers only: steering the zpd policy by drift is the explicit RLConfig.drift_budget.
    return (MonitorSuite.default(None, steer_curriculum=False),)


def _bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rollout", unit_scale=True, desc="RL", leave=True)


def _read_run_rows(path: Path) -> list[dict[str, Any]]:
    """Flat rows ``{"step", **metrics}`` from a ``zpd.monitors.JsonlSink`` file."""
    from zpd.lab.report import read_jsonl

    return [{"step": int(r["step"]), **r.get("metrics", {})} for r in read_jsonl(path)]


def load_rows(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The metric rows of a finished experiment (``out_dir/metrics.jsonl``)."""
    from zpd.lab.report import read_jsonl

    return read_jsonl(Path(out_dir) / "metrics.jsonl")


def base_accuracy_by_block(base_dir: Path, pool_config: Any) -> dict[str, float]:
    """Mean sampled accuracy of the base over the eval cells of each pool block (a check that
    the pool's easy/band/hard design holds for this base)."""
    ev = load_eval(base_dir.parent)
    out = {}
    for name in ("easy", "band", "hard"):
        block = getattr(pool_config, name)
        vals = [
            c["sampled"] for c in ev["cells"].values()
            if c["op"] in {o.value for o in block.ops} and c["fmt"] in {f.value for f in block.formats}
            and block.digits[0] <= c["n_digits"] <= block.digits[1]
        ]
        out[name] = float(np.mean(vals)) if vals else float("nan")
    return out


__all__: Sequence[str] = (
    "Arm", "ExperimentConfig", "add_heldout", "arms", "base_accuracy_by_block", "demo_config",
    "eval_sets", "load_rows", "run_experiment",
)
