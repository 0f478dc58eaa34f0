"""The demo's experiment: curriculum policies on one difficulty ladder, under two protocols.

What it is: :class:`ExperimentConfig` (the base's pretraining, the ladder, the GRPO settings, the
protocols, the seeds), its file form (TOML or JSON: :func:`load_experiment`; the defaults are
``zpd/lab/configs/demo.toml``, shipped with the package), and :func:`run_experiment`, which
pretrains the base (or reuses the cached or shipped one), builds the ladder and its held-out
sets once, measures the base's pass@1 and pass@8 per rung, runs every (protocol, policy, seed)
arm one after another (two arms at once on a 2-core CPU slow each ~5x), and writes the report.

The two protocols are the two ways the field counts cost:

* **equal rollout budget**: every policy trains B prompts x G rollouts per step until the same
  budget is spent (uniform is the baseline);
* **filled informative batches** (DAPO's protocol, the one GRESO and MoPPS report): every update
  trains B groups with mixed rewards; a policy pays for every rollout it generated to fill them,
  dropped ones included (dapo = uniform plus the filter is the baseline).

What it is not: the GRPO loop (:mod:`zpd.lab.rl`), the summaries and plots
(:mod:`zpd.lab.report`) or the command line (:mod:`zpd.cli.demo`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zpd.core.atomic import strict_dumps
from zpd.core.errors import ConfigError
from zpd.lab.pretrain import PretrainConfig, pretrain, task_config_to_dict
from zpd.lab.rl import RLConfig, run_rl

CONFIG_DIR = Path(__file__).with_name("configs")
"""The shipped experiment files: ``demo.toml`` (the defaults) and ``quick.toml``."""


class ExperimentConfigError(ConfigError):
    """A demo/experiment setting is invalid; the message names the field and the fix."""


@dataclass(frozen=True)
class ProtocolConfig:
    """One way of comparing policies: which policies, against which baseline, with or without
    the post-rollout filter (drop zero-variance groups, refill, pay for every rollout)."""

    name: str
    """Short name (the report's section and ``summary.json``'s key)."""
    baseline: str
    """The policy whose final held-out accuracy is every arm's target (one of ``policies``)."""
    policies: tuple[str, ...]
    """Curriculum policies (``zpd.Curriculum`` names) run under this protocol."""
    post_filter: bool = False
    """Fill every update with informative groups (DAPO dynamic sampling) for every policy."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ExperimentConfigError("a protocol needs a non-empty name")
        pols = (self.policies,) if isinstance(self.policies, str) else tuple(self.policies)
        if not pols or len(set(pols)) != len(pols):
            raise ExperimentConfigError(
                f"protocol {self.name!r}: policies={self.policies!r}: give distinct names")
        for p in pols:
            RLConfig(policy=p)  # a clear error for an unknown policy name
        if self.baseline not in pols:
            raise ExperimentConfigError(
                f"protocol {self.name!r}: baseline {self.baseline!r} is not among its policies "
                f"{list(pols)}")
        if not isinstance(self.post_filter, bool):
            raise ExperimentConfigError(f"protocol {self.name!r}: post_filter must be a boolean")
        object.__setattr__(self, "policies", pols)

    def label(self, policy: str) -> str:
        """The arm label of ``policy`` here: ``zpd+filter`` when this protocol filters a policy
        that does not filter on its own (dapo does)."""
        return f"{policy}+filter" if self.post_filter and policy != "dapo" else policy


def _default_protocols() -> tuple[ProtocolConfig, ...]:
    return (
        ProtocolConfig("equal-budget", "uniform",
                       ("uniform", "mopps", "greso", "learnability", "static", "zpd")),
        ProtocolConfig("filled-batches", "dapo", ("dapo", "greso", "zpd"), post_filter=True),
    )


def _default_ladder() -> Any:
    from zpd.lab import tasks

    return tasks.LadderConfig()


def _default_pretrain() -> PretrainConfig:
    from zpd.lab import tasks

    return PretrainConfig(mix=tasks.LadderConfig().base_mix(), steps=2000)


@dataclass(frozen=True)
class ExperimentConfig:
    """One comparison of curriculum policies on a difficulty ladder (the demo is one)."""

    pretrain: PretrainConfig = field(default_factory=_default_pretrain)
    """How the base is trained (cached by a fingerprint of this config; the default one ships
    with the package). A config file that omits ``pretrain.mix`` gets the ladder's own mix."""
    ladder: Any = field(default_factory=_default_ladder)
    """``tasks.LadderConfig``: the rungs, the base's noise per answer digit, the pool per rung,
    the held-out sets per rung, the held-out prior skills."""
    rl: RLConfig = field(default_factory=RLConfig)
    """GRPO settings shared by every arm (``policy``, ``seed`` and ``post_filter`` are set per
    arm)."""
    protocols: tuple[ProtocolConfig, ...] = field(default_factory=_default_protocols)
    """How policies are compared (see the module docstring)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """RL seeds; every (protocol, policy) runs once per seed."""
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

        if not isinstance(self.ladder, tasks.LadderConfig):
            raise ExperimentConfigError("ExperimentConfig.ladder must be a tasks.LadderConfig")
        if not isinstance(self.pretrain, PretrainConfig) or not isinstance(self.rl, RLConfig):
            raise ExperimentConfigError("ExperimentConfig.pretrain / .rl have the wrong type")
        protocols = tuple(self.protocols)
        if not protocols or not all(isinstance(p, ProtocolConfig) for p in protocols):
            raise ExperimentConfigError("ExperimentConfig.protocols: give one or more protocols")
        names = [p.name for p in protocols]
        if len(set(names)) != len(names):
            raise ExperimentConfigError(f"protocol names must be distinct, got {names}")
        seeds = tuple(self.seeds) if not isinstance(self.seeds, int) else (self.seeds,)
        if (not seeds or len(set(seeds)) != len(seeds)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                           for s in seeds)):
            raise ExperimentConfigError(
                f"ExperimentConfig.seeds={self.seeds!r}: give distinct non-negative integers")
        if not isinstance(self.pool_seed, int) or isinstance(self.pool_seed, bool) or \
                self.pool_seed < 0:
            raise ExperimentConfigError(f"pool_seed={self.pool_seed!r}: give an integer >= 0")
        object.__setattr__(self, "protocols", protocols)
        object.__setattr__(self, "seeds", seeds)

    # -------------------------------------------------------------- file form
    def to_dict(self) -> dict[str, Any]:
        """The JSON/TOML-ready form that :meth:`from_dict` reads back (round trip)."""
        ladder = {f.name: getattr(self.ladder, f.name) for f in dataclasses.fields(self.ladder)}
        ladder["prior"] = [task_config_to_dict(b) for b in self.ladder.prior]
        for key in ("op", "formats", "levels", "digit_noise"):
            v = ladder[key]
            ladder[key] = ([getattr(x, "value", x) for x in v] if isinstance(v, tuple)
                           else getattr(v, "value", v))
        rl = self.rl.to_dict()
        rl.pop("curriculum_kwargs", None)
        for key in ("policy", "seed", "post_filter"):
            rl.pop(key, None)
        return {
            "seeds": list(self.seeds),
            "pool_seed": self.pool_seed,
            "monitors": self.monitors,
            "description": self.description,
            "pretrain": self.pretrain.to_dict(),
            "ladder": ladder,
            "rl": {k: v for k, v in rl.items() if v is not None},
            "protocols": [{"name": p.name, "baseline": p.baseline, "policies": list(p.policies),
                           "post_filter": p.post_filter} for p in self.protocols],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> ExperimentConfig:
        """Build from :meth:`to_dict`'s form; unknown keys and bad values are clear errors that
        name ``source`` (the file)."""
        from zpd.lab import tasks

        if not isinstance(data, Mapping):
            raise ExperimentConfigError(f"{source}: the top level must be a table of settings")
        top = {"seeds", "pool_seed", "monitors", "description", "pretrain", "ladder", "rl",
               "protocols"}
        _no_unknown(data, top, source, "")
        try:
            ladder = _ladder_from(data.get("ladder", {}), source)
            given = data.get("pretrain", {})
            _no_unknown(given, {f.name for f in dataclasses.fields(PretrainConfig)}, source,
                        "pretrain.")
            pre = {k: v for k, v in _default_pretrain().to_dict().items() if k != "mix"}
            pre.update(given)  # the demo's pretraining defaults, then the file's settings
            if "mix" not in pre:
                pre["mix"] = [task_config_to_dict(b) for b in ladder.base_mix()]
            rl = dict(data.get("rl", {}))
            allowed = {f.name for f in dataclasses.fields(RLConfig)} - {
                "policy", "seed", "post_filter", "curriculum_kwargs"}
            _no_unknown(rl, allowed, source, "rl.")
            protocols = tuple(_protocol_from(p, source) for p in data.get(
                "protocols", [dataclasses.asdict(p) for p in _default_protocols()]))
            kwargs: dict[str, Any] = {
                "pretrain": PretrainConfig.from_dict(pre), "ladder": ladder,
                "rl": RLConfig(**rl), "protocols": protocols,
            }
            for key in ("seeds", "pool_seed", "monitors", "description"):
                if key in data:
                    kwargs[key] = tuple(data[key]) if key == "seeds" else data[key]
            return cls(**kwargs)
        except (TypeError, tasks.TaskError, ConfigError) as exc:
            if isinstance(exc, ExperimentConfigError) and str(exc).startswith(source):
                raise
            raise ExperimentConfigError(f"{source}: {exc}") from None


def _no_unknown(d: Mapping[str, Any], known: set[str], source: str, prefix: str) -> None:
    if not isinstance(d, Mapping):
        raise ExperimentConfigError(f"{source}: {prefix.rstrip('.') or 'top level'} must be a table")
    bad = sorted(set(d) - known)
    if bad:
        raise ExperimentConfigError(
            f"{source}: unknown key(s) {[prefix + b for b in bad]}; known: {sorted(known)}")


def _ladder_from(d: Any, source: str) -> Any:
    from zpd.lab import tasks

    _no_unknown(d, {f.name for f in dataclasses.fields(tasks.LadderConfig)}, source, "ladder.")
    kw = {k: tuple(v) if isinstance(v, list) and k != "prior" else v for k, v in d.items()}
    if "prior" in kw:
        known = {f.name for f in dataclasses.fields(tasks.TaskConfig)}
        for b in kw["prior"]:
            _no_unknown(b, known, source, "ladder.prior.")
        kw["prior"] = tuple(tasks.TaskConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                for k, v in b.items()}) for b in kw["prior"])
    return tasks.LadderConfig(**kw)


def _protocol_from(d: Any, source: str) -> ProtocolConfig:
    _no_unknown(d, {"name", "baseline", "policies", "post_filter"}, source, "protocols.")
    kw = dict(d)
    if "policies" in kw:
        kw["policies"] = tuple(kw["policies"])
    return ProtocolConfig(**kw)


def load_experiment(path: str | os.PathLike[str]) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from a TOML (``.toml``) or JSON file."""
    import tomllib

    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ExperimentConfigError(f"cannot read experiment file {p}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if p.suffix.lower() == ".toml" else "JSON"
        raise ExperimentConfigError(f"{p} is not valid {kind}: {exc}") from None
    return ExperimentConfig.from_dict(data, source=str(p))


def demo_config(quick: bool = False, seeds: int | None = None,
                preset: str | None = None) -> ExperimentConfig:
    """The defaults of ``zpd demo`` (``configs/demo.toml``) or ``zpd demo --quick``
    (``configs/quick.toml``), with ``seeds`` seeds and the model ``preset`` if given."""
    cfg = load_experiment(CONFIG_DIR / ("quick.toml" if quick else "demo.toml"))
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ExperimentConfigError(f"seeds={seeds!r}: give a positive number of seeds")
        cfg = dataclasses.replace(cfg, seeds=tuple(range(seeds)))
    if preset is not None:
        cfg = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, preset=preset))
    return cfg


# ----------------------------------------------------------------------------- arms
@dataclass(frozen=True)
class Arm:
    """One (protocol, policy, seed) run."""

    protocol: str
    policy: str
    label: str
    seed: int
    post_filter: bool

    @property
    def name(self) -> str:
        """Folder name under ``runs/``: label and seed (a label runs once per seed)."""
        return f"{self.label}-s{self.seed}"


def arms(config: ExperimentConfig) -> list[Arm]:
    """Arms in run order: seeds outer, then protocols and policies (a partial run still
    compares policies). A label that two protocols share (same policy, same filter) runs once."""
    out: dict[str, Arm] = {}
    for s in config.seeds:
        for proto in config.protocols:
            for p in proto.policies:
                arm = Arm(proto.name, p, proto.label(p), s, proto.post_filter and p != "dapo")
                out.setdefault(arm.name, arm)
    return list(out.values())


def eval_sets(pool: Any) -> dict[str, list[Any]]:
    """The held-out sets of a pool: for a ``tasks.LadderPool`` one per rung (``L3`` ...) and
    ``prior``; for a ``tasks.Pool`` easy, inband, hard and prior."""
    from zpd.lab import tasks

    if isinstance(pool, tasks.LadderPool):
        sets = {f"L{d}": list(items) for d, items in pool.eval_rungs.items()}
        return {**sets, "prior": list(pool.eval_prior)}
    return {
        "easy": list(pool.eval_easy),
        "inband": list(pool.eval_band),
        "hard": list(pool.eval_hard),
        "prior": list(pool.eval_prior),
    }


def add_heldout(metrics: dict[str, Any]) -> dict[str, Any]:
    """Add ``lab/eval/heldout/<mode>``, the headline accuracy: the mean over the ladder's rungs
    (the pool has them in equal shares), or of easy, inband and hard for a three-block pool."""
    for mode in ("sampled", "greedy"):
        rungs = [v for k, v in metrics.items()
                 if k.startswith("lab/eval/L") and k.endswith(f"/{mode}")]
        keys = [f"lab/eval/{s}/{mode}" for s in ("easy", "inband", "hard")]
        if rungs:
            metrics[f"lab/eval/heldout/{mode}"] = float(np.mean(rungs))
        elif all(k in metrics for k in keys):
            metrics[f"lab/eval/heldout/{mode}"] = float(np.mean([metrics[k] for k in keys]))
    return metrics


# ----------------------------------------------------------------------------- the run
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
    ``metrics.parquet`` (all arms), ``runs/<label>-s<seed>/`` (each arm's rows and totals),
    ``base_profile.json``. An arm whose ``run.json`` exists from an earlier run with the same
    settings is reused, and an arm cut off mid-run continues from its last checkpoint
    (``RLConfig.checkpoint_every``), so an interrupted demo continues where it stopped.
    ``base_dir`` pretrains into that folder instead of the cache.
    """
    from zpd.lab import tasks
    from zpd.lab.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log(f"[zpd demo] base model: reusing or pretraining ({config.pretrain.steps} steps, "
        f"preset {config.pretrain.preset})")
    base = pretrain(config.pretrain, base_dir, progress)
    log(f"[zpd demo] base model ready in {base} ({time.perf_counter() - t0:.0f} s)")
    pool = tasks.make_ladder(config.ladder, seed=config.pool_seed)
    sets = eval_sets(pool)
    tiers = [f"L{int(d)}" for d in pool.rung_of]
    profile = base_profile(base, pool, config.rl.temperature, out)
    log("[zpd demo] base pass@1 by rung: " + ", ".join(
        f"L{d} {p:.2f}" for d, p in zip(profile["rungs"], profile["pass@1"])))
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
        "items_per_rung": config.ladder.items_per_level,
        "eval_items": {k: len(v) for k, v in sets.items()},
        "base_profile": profile,
        "seconds_total": time.perf_counter() - t0,
        "seconds_per_arm": timings,
        "settings": config.to_dict(),
    }
    path = write_report(rows, out, meta, protocols=config.protocols)
    log(f"[zpd demo] done in {time.perf_counter() - t0:.0f} s; report: {path.resolve()}")
    return path


def _run_arm(config: ExperimentConfig, arm: Arm, base: Path, pool: Any,
             sets: dict[str, list[Any]], tiers: list[str], out: Path, bar: Any
             ) -> list[dict[str, Any]]:
    """Run one arm (or reuse its finished rows) and return its metric rows, tagged for every
    protocol that lists it."""
    rl_cfg = dataclasses.replace(config.rl, policy=arm.policy, seed=arm.seed,
                                 post_filter=arm.post_filter)
    arm_dir = out / "runs" / arm.name
    done_file = arm_dir / "run.json"
    metrics_file = arm_dir / "metrics.jsonl"
    rows: list[dict[str, Any]] | None = None
    if done_file.is_file() and metrics_file.is_file():
        prev = json.loads(done_file.read_text())
        if (prev.get("config") == rl_cfg.to_dict() and prev.get("base") == str(base)
                and prev.get("monitors", False) == config.monitors):
            if bar is not None:
                bar.update(config.rl.rollout_budget)
            rows = _read_run_rows(metrics_file)
    if rows is None:  # run_rl continues a partial arm from its last checkpoint (same future)
        res = run_rl(rl_cfg, base, pool.train, arm_dir, eval_sets=sets, tiers=tiers,
                     monitors=_monitors(config), progress=None if bar is None else bar.update)
        _mark_done(done_file, rl_cfg, base, res.rollouts, monitors=config.monitors)
        rows = res.rows
    out_rows = []
    for proto in config.protocols:
        if arm.policy in proto.policies and proto.label(arm.policy) == arm.label:
            out_rows += [add_heldout({"protocol": proto.name, "policy": arm.label,
                                      "seed": arm.seed, "arm": arm.name, **r}) for r in rows]
    return out_rows


def _mark_done(path: Path, rl_cfg: RLConfig, base: Path, rollouts: int, *,
               monitors: bool) -> None:
    from zpd.core.atomic import atomic_write_bytes

    info = json.loads(path.read_text()) if path.is_file() else {}
    info.update({"config": rl_cfg.to_dict(), "base": str(base), "rollouts": rollouts,
                 "monitors": monitors})
    atomic_write_bytes(path, strict_dumps(info, indent=2).encode())


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


def base_profile(base_dir: Path, pool: Any, temperature: float, out: Path,
                 k: int = 8) -> dict[str, Any]:
    """The base's pass@1 and pass@k per rung on the held-out rung items (k samples each at the
    training temperature; a fixed generator). Cached in ``out/base_profile.json`` by base."""
    import torch

    from zpd.core.atomic import atomic_write_bytes
    from zpd.lab import model as gpt
    from zpd.lab import tasks
    from zpd.lab.rl import completion_budget, decode_completions

    path = out / "base_profile.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("base") == str(base_dir) and cached.get("k") == k:
            return dict(cached)
    model, tok = gpt.load_pretrained(base_dir)
    gen = torch.Generator().manual_seed(12345)
    rungs = sorted(pool.eval_rungs)
    p1, pk = [], []
    for d in rungs:
        items = list(pool.eval_rungs[d])
        prompts = [tok.encode(it.prompt) for it in items for _ in range(k)]
        comp, _, lengths = gpt.generate(model, prompts, completion_budget(items),
                                        temperature=temperature, generator=gen)
        texts = decode_completions(tok, comp, lengths)
        r = np.array([tasks.verify(items[i // k], t) for i, t in enumerate(texts)]
                     ).reshape(len(items), k)  # (items, k)
        p1.append(float(r.mean()))
        pk.append(float(r.max(axis=1).mean()))
    prof = {"base": str(base_dir), "k": k, "rungs": rungs, "pass@1": p1, f"pass@{k}": pk}
    atomic_write_bytes(path, strict_dumps(prof, indent=1).encode())
    return prof


__all__: Sequence[str] = (
    "Arm", "ExperimentConfig", "ProtocolConfig", "add_heldout", "arms", "base_profile",
    "demo_config", "eval_sets", "load_experiment", "load_rows", "run_experiment",
)
