"""Lab proof of the training-health monitors: plain GRPO on near-impossible items vs ``zpd``.

What it is: the experiment behind issue 4's claim. Sample Difficulty in RLVR (arXiv 2605.28388)
reports that training on near-impossible prompts rewards rare lucky successes — GRPO's group
normalisation (arXiv 2402.03300) gives a lone success among G an advantage of sqrt(G - 1) — and
that this teaches shortcuts which leak into skills the model already had. Here the default lab
base (least-significant-digit-first addition) is trained on addition in the *reversed* output
format (most-significant digit first, 3-5 digits), which the base solves only by luck (sampled
accuracy ~0.15 / 0.10 / 0.06 at 3 / 4 / 5 digits), under the same rollout budget in each arm:

* ``grpo``: plain GRPO (advantage ``grpo``), prompts uniform over the near-impossible pool;
* ``zpd``: the ``zpd`` policy with the tracker-informed advantage on the *same* pool (all of it
  is near-impossible, so the policy can only quarantine and re-probe: what differs is mostly
  the advantage, which does not amplify flukes);
* ``zpd-mixed``: the ``zpd`` policy with the tracker-informed advantage on the near-impossible
  pool *plus* the demo's in-band pool (3-5-digit direct addition), the pool ``zpd`` would
  naturally choose from;
* ``grpo-mixed`` (optional control, not run by default): plain GRPO, uniform over that mixed pool.

Every arm runs the full ``zpd.monitors.MonitorSuite`` on every step's rollouts, plus
:class:`AdvantageLedger` (absolute advantage carried by accidental successes), and evaluates
held-out sets every ``eval_every`` steps: the prior skills RL never trains (string ops,
scratchpad/carry addition, 1-2-digit direct addition, 1-2-digit reversed addition), the in-band
set and the near-impossible set itself. A prior-skill drop is tested with the ``retention``
monitor (one-sided Fisher test, family-wise alpha) fed one window per evaluation, the
base's evaluation being the baseline. :func:`summarize_proof` turns the runs into per-arm
numbers (means and per-seed values); :func:`write_proof_report` writes an HTML page with
plots, and :func:`add_to_report` adds the proof's section to ``zpd demo``'s report. What it is not: the GRPO loop (:mod:`zpd.lab.rl`) or the monitors (:mod:`zpd.monitors`),
and not a tuned result: the settings were fixed before the first run (see docs/lab-proof.md).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from zpd.core.errors import ConfigError
from zpd.lab.pretrain import PretrainConfig
from zpd.lab.rl import RLConfig, run_rl


class ProofConfigError(ConfigError):
    """A proof setting is invalid; the message names the field and the fix."""


class ProofArm(str, Enum):
    """The arms of the proof (strings accepted wherever a ``ProofArm`` is)."""

    GRPO = "grpo"
    ZPD = "zpd"
    ZPD_MIXED = "zpd-mixed"
    GRPO_MIXED = "grpo-mixed"

    @classmethod
    def parse(cls, value: ProofArm | str) -> ProofArm:
        """The arm named ``value``; a clear error otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ProofConfigError(
                f"unknown proof arm {value!r}; choose from {[a.value for a in cls]}"
            ) from None

    @property
    def policy(self) -> str:
        """Curriculum policy of the arm."""
        return "uniform" if self in (ProofArm.GRPO, ProofArm.GRPO_MIXED) else "zpd"

    @property
    def advantage(self) -> str:
        """Advantage kind of the arm."""
        return "grpo" if self.policy == "uniform" else "tracker"

    @property
    def mixed(self) -> bool:
        """Whether the arm's pool adds the in-band items to the near-impossible ones."""
        return self in (ProofArm.ZPD_MIXED, ProofArm.GRPO_MIXED)


def _nearimp_default() -> Any:
    from zpd.lab import tasks

    return tasks.TaskConfig(ops=("add",), formats=("reversed",), digits=(3, 5), n_items=400)


def _pool_default() -> Any:
    from zpd.lab import tasks

    return tasks.PoolConfig()


#: Held-out sets that are prior skills (the base has them; RL trains none of them).
PRIOR_SETS: tuple[str, ...] = ("prior", "easy", "rev_short")
#: Every held-out set the proof evaluates.
EVAL_SETS: tuple[str, ...] = (*PRIOR_SETS, "inband", "nearimp")


@dataclass(frozen=True)
class ProofConfig:
    """The proof experiment: base, pools, GRPO settings shared by the arms, arms and seeds."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """The base (cached by a hash of this config; the default is ``zpd demo``'s base)."""
    nearimp: Any = field(default_factory=_nearimp_default)
    """``tasks.TaskConfig`` of the near-impossible pool (default: 400 reversed-format additions
    of 3-5 digits, which the default base solves only by luck)."""
    pool: Any = field(default_factory=_pool_default)
    """``tasks.PoolConfig`` of the demo: its in-band block joins the mixed arms' pool; its
    held-out easy, in-band and prior sets are evaluated."""
    n_eval: int = 128
    """Items per held-out set drawn here (near-impossible and short reversed addition)."""
    rollout_budget: int = 3072
    """Rollouts each arm may pay for (the same in every arm): 24 steps of 16 x 8, which keeps
    3 arms x 3 seeds near 10 minutes on a 2-core CPU."""
    prompts_per_step: int = 16
    """Prompts (groups) per step."""
    group_size: int = 8
    """G, completions per prompt."""
    lr: float = 1e-4
    """AdamW learning rate: above the demo's 3e-5 (the seeds' claim is about what plain GRPO
    does when pushed), below the 3e-4 that drifted to KL 0.45 nats/token within 5 steps."""
    eval_every: int = 4
    """Held-out evaluation every this many steps (and at steps 0 and last)."""
    arms: tuple[ProofArm, ...] = (ProofArm.GRPO, ProofArm.ZPD, ProofArm.ZPD_MIXED)
    """Arms to run (strings accepted)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """RL seeds; every arm runs once per seed."""
    pool_seed: int = 0
    """Seed of the pools and held-out sets (the same for every arm)."""

    def __post_init__(self) -> None:
        from zpd.lab import tasks

        if not isinstance(self.pretrain, PretrainConfig):
            raise ProofConfigError("ProofConfig.pretrain must be a PretrainConfig")
        if not isinstance(self.nearimp, tasks.TaskConfig):
            raise ProofConfigError("ProofConfig.nearimp must be a tasks.TaskConfig")
        if not isinstance(self.pool, tasks.PoolConfig):
            raise ProofConfigError("ProofConfig.pool must be a tasks.PoolConfig")
        arms = (self.arms,) if isinstance(self.arms, (str, ProofArm)) else tuple(self.arms)
        arms = tuple(ProofArm.parse(a) for a in arms)
        if not arms or len(set(arms)) != len(arms):
            raise ProofConfigError(f"ProofConfig.arms={self.arms!r}: give distinct arm names")
        seeds = tuple(self.seeds) if not isinstance(self.seeds, int) else (self.seeds,)
        if (not seeds or len(set(seeds)) != len(seeds)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                           for s in seeds)):
            raise ProofConfigError(f"ProofConfig.seeds={self.seeds!r}: distinct ints >= 0")
        n = self.n_eval
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4096:
            raise ProofConfigError(f"ProofConfig.n_eval={n!r}: must be an int in [1, 4096]")
        object.__setattr__(self, "arms", arms)
        object.__setattr__(self, "seeds", seeds)
        self.rl_config(arms[0], seeds[0])  # validates budget, lr, sizes, eval_every now

    def rl_config(self, arm: ProofArm | str, seed: int) -> RLConfig:
        """The ``RLConfig`` of one arm and seed."""
        a = ProofArm.parse(arm)
        try:
            return RLConfig(
                policy=a.policy, advantage=a.advantage, group_size=self.group_size,
                prompts_per_step=self.prompts_per_step, rollout_budget=self.rollout_budget,
                lr=self.lr, eval_every=self.eval_every, seed=seed,
            )
        except ConfigError as exc:
            raise ProofConfigError(f"ProofConfig: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for the summary)."""
        from zpd.lab.pretrain import task_config_to_dict

        return {
            "pretrain_fingerprint": self.pretrain.fingerprint(),
            "nearimp": task_config_to_dict(self.nearimp),
            "band": task_config_to_dict(self.pool.band),
            "n_eval": self.n_eval, "rollout_budget": self.rollout_budget,
            "prompts_per_step": self.prompts_per_step, "group_size": self.group_size,
            "lr": self.lr, "eval_every": self.eval_every,
            "arms": [a.value for a in self.arms], "seeds": list(self.seeds),
            "pool_seed": self.pool_seed,
        }


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ProofData:
    """Pools and held-out sets of the proof (prompts disjoint across all of them)."""

    nearimp: tuple[Any, ...]
    """Near-impossible training items (ids = position)."""
    band: tuple[Any, ...]
    """In-band training items (the demo's band block)."""
    eval_sets: Mapping[str, Sequence[Any]]
    """Held-out sets by name (see :data:`EVAL_SETS`)."""

    def pool(self, arm: ProofArm) -> tuple[list[Any], list[str]]:
        """The arm's training items (ids = position) and their tier labels."""
        items = list(self.nearimp) + (list(self.band) if arm.mixed else [])
        tiers = ["nearimp"] * len(self.nearimp) + (["band"] * len(self.band) if arm.mixed else [])
        return [it.with_id(i) for i, it in enumerate(items)], tiers


def make_data(config: ProofConfig) -> ProofData:
    """Build the pools and held-out sets from ``config.pool_seed`` (same for every arm)."""
    from zpd.lab import tasks

    pool = tasks.make_pool(config.pool, seed=config.pool_seed)
    seen = {it.prompt for it in pool.train}
    seen |= {it.prompt for s in (pool.eval_band, pool.eval_hard, pool.eval_prior, pool.eval_easy)
             for it in s}
    rng = np.random.default_rng([config.pool_seed, 4])

    def draw(cfg: Any, n: int) -> tuple[Any, ...]:
        items = tasks.make_items(dataclasses.replace(cfg, n_items=n), rng, unique=True,
                                 exclude=seen)
        seen.update(it.prompt for it in items)
        return tuple(items)

    nearimp = draw(config.nearimp, config.nearimp.n_items)
    rev_short = tasks.TaskConfig(ops=("add",), formats=("reversed",), digits=(1, 2))
    sets = {
        "prior": list(pool.eval_prior),
        "easy": list(pool.eval_easy),
        "rev_short": list(draw(rev_short, config.n_eval)),
        "inband": list(pool.eval_band),
        "nearimp": list(draw(config.nearimp, config.n_eval)),
    }
    band = tuple(it for it, b in zip(pool.train, pool.band_of) if tasks.BANDS[int(b)] == "band")
    return ProofData(nearimp=nearimp, band=band, eval_sets=sets)


# ----------------------------------------------------------------------------- per-step extras
class AdvantageLedger:
    """Absolute advantage carried by accidental successes (a ``zpd.lab.rl`` monitor callable).

    The ``accidental`` family reports shares (of positive rollouts and of positive advantage
    mass); on a pool that is all near-impossible both are the same whatever the advantage's scale. This adds
    the absolute sums per step, which show whether an arm *amplifies* flukes (GRPO: sqrt(G-1)
    per lone success, arXiv 2402.03300) — ``proof/accidental_adv_sum``, ``proof/pos_adv_sum``,
    ``proof/lucky_successes`` (successes in groups with exactly one success) and
    ``proof/max_adv`` (the step's largest advantage, 0 if none is positive). A rollout is
    accidental as in ``zpd.monitors.AccidentalMonitor``: positive advantage, prior pass rate
    below ``threshold``.
    """

    def __init__(self, threshold: float = 0.1) -> None:
        if not 0.0 < threshold < 1.0:
            raise ProofConfigError(f"AdvantageLedger threshold={threshold!r}: must be in (0, 1)")
        self.threshold = float(threshold)

    def __call__(self, batch: Any, context: Any) -> dict[str, float]:
        adv = np.asarray(batch.advantages, dtype=np.float64)  # (N,)
        p = context.pass_rates(batch.item_ids)  # (N,) prior posterior means
        ok = np.asarray(batch.rewards) >= 0.5  # (N,)
        codes = np.asarray(batch.group_codes)
        per_group = np.bincount(codes, weights=ok, minlength=batch.num_groups)  # (B,)
        acc = (adv > 0) & (np.asarray(p) < self.threshold)
        return {
            "proof/accidental_adv_sum": float(adv[acc].sum()),
            "proof/pos_adv_sum": float(adv[adv > 0].sum()),
            "proof/lucky_successes": float((ok & (per_group[codes] == 1)).sum()),
            "proof/max_adv": float(adv.max(initial=0.0)),
        }


class _Recorder:
    """Sink keeping every row and alert of one arm and forwarding them to a JSONL sink."""

    def __init__(self, out_dir: Path) -> None:
        from zpd.monitors import JsonlSink

        self.rows: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self._jsonl = JsonlSink(out_dir)

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Any] = ()) -> None:
        self.rows.append({"step": step, **metrics})
        self.alerts += [a.to_dict() for a in alerts]
        self._jsonl.log(step, metrics, alerts)

    def close(self) -> None:
        self._jsonl.close()


# ----------------------------------------------------------------------------- retention test
def retention_test(rows: Sequence[Mapping[str, Any]], sizes: Mapping[str, int],
                   alpha: float = 0.05) -> tuple[dict[int, dict[str, float]], list[dict[str, Any]]]:
    """The ``retention`` monitor over the held-out prior-skill evaluations of finished rows
    (what :func:`zpd.lab.rl.run_rl` computes live, :mod:`zpd.lab.retention`). Returns per-step
    metrics ``health/retention/<s>/...`` and the alerts (as dicts)."""
    from zpd.lab.retention import EvalRetention

    test = EvalRetention(sizes, alpha=alpha)
    metrics: dict[int, dict[str, float]] = {}
    alerts: list[dict[str, Any]] = []
    for r in rows:
        m, found = test(int(r["step"]), r)
        if m:
            metrics[int(r["step"])] = m
            alerts += [a.to_dict() for a in found]
    return metrics, alerts


# ----------------------------------------------------------------------------- running
def run_arm(config: ProofConfig, arm: ProofArm | str, seed: int, base: str | os.PathLike[str],
            data: ProofData, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Run one arm and seed with the monitor suite attached; returns its rows and alerts.

    Rows are tagged ``arm``, ``policy`` (= arm name, for the report's curves) and ``seed``; the
    retention test runs live inside the run (its metrics and alerts are in the rows). Files in ``out_dir``:
    ``metrics.jsonl`` (readable by ``zpd watch``) and ``run.json``.
    """
    from zpd.monitors import MonitorSuite

    a = ProofArm.parse(arm)
    items, tiers = data.pool(a)
    out = Path(out_dir)
    rec = _Recorder(out)
    suite = MonitorSuite.default(None)
    try:
        run_rl(config.rl_config(a, seed), base, items, out, rec, eval_sets=data.eval_sets,
               tiers=tiers, monitors=(suite, AdvantageLedger()), retention_sets=PRIOR_SETS)
    finally:
        rec.close()
    rows = [{"arm": a.value, "policy": a.value, "seed": seed, **r} for r in rec.rows]
    return {"arm": a.value, "seed": seed, "rows": rows, "alerts": rec.alerts}


def run_proof(config: ProofConfig, out_dir: str | os.PathLike[str], *,
              base_dir: str | os.PathLike[str] | None = None, progress: bool = False,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Pretrain (or reuse the cached) base, run every arm and seed, write the files.

    Files in ``out_dir``: ``metrics.jsonl`` (every step of every run, tagged), ``alerts.jsonl``,
    ``summary.json`` (:func:`summarize_proof` plus settings and timings), ``proof.html``
    (:func:`write_proof_report`) and ``runs/<arm>-s<seed>/metrics.jsonl``. ``base_dir``: a
    finished base folder (``.../final``) to use instead of pretraining. Returns the summary.
    """
    from zpd.lab.pretrain import pretrain
    from zpd.lab.report import write_jsonl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base = Path(base_dir) if base_dir is not None else pretrain(config.pretrain, None, progress)
    data = make_data(config)
    runs, timings = [], {}
    for seed in config.seeds:
        for arm in config.arms:
            name = f"{arm.value}-s{seed}"
            log(f"[zpd lab proof] {name}: {config.rollout_budget} rollouts")
            t_arm = time.perf_counter()
            runs.append(run_arm(config, arm, seed, base, data, out / "runs" / name))
            timings[name] = round(time.perf_counter() - t_arm, 1)
    rows = [r for run in runs for r in run["rows"]]
    alerts = [{"arm": run["arm"], "seed": run["seed"], **a} for run in runs for a in run["alerts"]]
    write_jsonl(rows, out / "metrics.jsonl")
    write_jsonl(alerts, out / "alerts.jsonl")
    summary = summarize_proof(runs)
    summary["settings"] = config.to_dict()
    summary["base_dir"] = str(base)
    summary["eval_items"] = {k: len(v) for k, v in data.eval_sets.items()}
    summary["seconds_per_run"] = timings
    summary["seconds_total"] = round(time.perf_counter() - t0, 1)
    write_proof_report(rows, summary, out)
    log(f"[zpd lab proof] done in {summary['seconds_total']:.0f} s: {out / 'proof.html'}")
    return summary


# ----------------------------------------------------------------------------- summary
SHORTCUT_FAMILIES: tuple[str, ...] = ("repetition", "skipping")
"""Monitor families whose alerts are shortcut alerts."""


def _evals(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) is not None]


def _steps(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.asarray([float(r[key]) for r in rows if r.get(key) is not None and r["step"] > 0])


def run_summary(run: Mapping[str, Any]) -> dict[str, float]:
    """One run's numbers: alert counts and first steps, accidental share and advantage, held-out
    accuracy before/after (first/last evaluation), KL, shortcut-flag rates."""
    rows, alerts = run["rows"], run["alerts"]
    out: dict[str, float] = {}
    for fam in (*SHORTCUT_FAMILIES, "accidental", "retention", "formats", "diversity", "kl"):
        mine = [a for a in alerts if a["monitor"] == fam]
        out[f"alerts/{fam}"] = float(len(mine))
        out[f"first_step/{fam}"] = float(min((a["step"] for a in mine), default=np.nan))
    short = [a for a in alerts if a["monitor"] in SHORTCUT_FAMILIES]
    out["alerts/shortcut"] = float(len(short))
    out["first_step/shortcut"] = float(min((a["step"] for a in short), default=np.nan))
    for key, name in (("health/accidental/accidental_share", "accidental_share"),
                      ("health/accidental/accidental_advantage_mass", "accidental_mass"),
                      ("proof/accidental_adv_sum", "accidental_adv_per_step"),
                      ("proof/pos_adv_sum", "pos_adv_per_step"),
                      ("proof/lucky_successes", "lucky_per_step"),
                      ("lab/reward_mean", "train_reward"),
                      ("curriculum/share_band", "share_band")):
        vals = _steps(rows, key)
        out[name] = float(vals.mean()) if vals.size else np.nan
    for key, name in (("lab/kl_base", "kl"), ("lab/shortcut/any", "shortcut_rate"),
                      ("health/repetition/top_answer_share", "top_answer_share")):
        vals = _steps(rows, key)
        out[f"{name}_first"] = float(vals[:3].mean()) if vals.size else np.nan
        out[f"{name}_last"] = float(vals[-3:].mean()) if vals.size else np.nan
    for s in (*EVAL_SETS, "all_prior"):
        vals = _evals(rows, f"lab/eval/{s}/sampled") if s != "all_prior" else []
        if s == "all_prior":
            parts = [(out[f"acc/{p}/before"], out[f"acc/{p}/after"]) for p in PRIOR_SETS]
            vals = [float(np.mean([b for b, _ in parts])), float(np.mean([a for _, a in parts]))]
        out[f"acc/{s}/before"] = vals[0] if vals else np.nan
        out[f"acc/{s}/after"] = vals[-1] if vals else np.nan
        out[f"acc/{s}/drop"] = out[f"acc/{s}/before"] - out[f"acc/{s}/after"]
    return out


def summarize_proof(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-arm summary over seeds: ``{"arms": {arm: {metric: {"mean", "per_seed"}}}}``."""
    by_arm: dict[str, list[tuple[int, dict[str, float]]]] = {}
    for run in runs:
        by_arm.setdefault(run["arm"], []).append((int(run["seed"]), run_summary(run)))
    arms: dict[str, Any] = {}
    for arm, per in by_arm.items():
        keys = per[0][1].keys()
        arms[arm] = {"seeds": [s for s, _ in per]}
        for k in keys:
            vals = np.asarray([m[k] for _, m in per], dtype=np.float64)
            ok = vals[np.isfinite(vals)]
            arms[arm][k] = {"mean": float(ok.mean()) if ok.size else None,
                            "per_seed": [float(v) if np.isfinite(v) else None for v in vals]}
    return {"arms": arms}


TABLE_ROWS: tuple[tuple[str, str], ...] = (
    ("alerts/shortcut", "shortcut alerts (repetition+skipping)"),
    ("first_step/shortcut", "first shortcut alert (step)"),
    ("alerts/accidental", "accidental-success alerts"),
    ("first_step/accidental", "first accidental alert (step)"),
    ("accidental_share", "accidental share of positive rollouts"),
    ("accidental_mass", "accidental share of positive advantage"),
    ("accidental_adv_per_step", "accidental advantage per step (sum)"),
    ("lucky_per_step", "lone successes per step"),
    ("acc/all_prior/before", "prior skills acc before (mean of 3 sets)"),
    ("acc/all_prior/after", "prior skills acc after"),
    ("acc/all_prior/drop", "prior skills drop"),
    ("acc/prior/drop", "  drop: string ops + scratch/carry add"),
    ("acc/easy/drop", "  drop: 1-2-digit add"),
    ("acc/rev_short/drop", "  drop: 1-2-digit reversed add"),
    ("alerts/retention", "retention alerts (Fisher, family-wise 0.05)"),
    ("acc/inband/before", "in-band acc before"),
    ("acc/inband/after", "in-band acc after"),
    ("acc/nearimp/before", "near-impossible acc before"),
    ("acc/nearimp/after", "near-impossible acc after"),
    ("share_band", "share of rollouts on in-band items"),
    ("kl_last", "KL to base, last 3 steps (nats/token)"),
    ("shortcut_rate_first", "shortcut-flag rate, first 3 steps"),
    ("shortcut_rate_last", "shortcut-flag rate, last 3 steps"),
)
"""(summary key, label) of the printed table, in order."""


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3f}"


def format_table(summary: Mapping[str, Any]) -> str:
    """The summary as a plain-text table: one column per arm, mean [per seed] per cell."""
    arms = list(summary["arms"])
    lines = [f"{'metric':<44}" + "".join(f"{a:>28}" for a in arms)]
    for key, label in TABLE_ROWS:
        cells = []
        for a in arms:
            e = summary["arms"][a].get(key)
            if e is None:
                cells.append(f"{'n/a':>28}")
                continue
            seeds = "/".join(_num(v) for v in e["per_seed"])
            cells.append(f"{_num(e['mean']) + ' [' + seeds + ']':>28}")
        lines.append(f"{label:<44}" + "".join(cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- report
PROOF_PLOTS: tuple[tuple[str, str, str], ...] = (
    ("lab/eval/prior/sampled", "Prior skills: string ops, scratch/carry add", "sampled accuracy"),
    ("lab/eval/easy/sampled", "Prior skill: 1-2-digit addition", "sampled accuracy"),
    ("lab/eval/rev_short/sampled", "Prior skill: 1-2-digit reversed addition", "sampled accuracy"),
    ("lab/eval/nearimp/sampled", "Near-impossible held-out accuracy", "sampled accuracy"),
    ("proof/accidental_adv_sum", "Advantage carried by accidental successes", "sum per step"),
    ("health/accidental/accidental_advantage_mass", "Accidental share of positive advantage",
     "share"),
    ("health/repetition/top_answer_share", "Top answer share across items", "share"),
    ("lab/kl_base", "KL to the base", "nats per token"),
)


def write_proof_report(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                       out_dir: str | os.PathLike[str]) -> Path:
    """Write ``summary.json``, ``proof.html`` (a self-contained lab-report section: table and
    plots) and one PNG per plot into ``out_dir``; returns the HTML path."""
    from zpd.core.atomic import atomic_write_bytes

    out = Path(out_dir)
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2, allow_nan=False).encode())
    figs = []
    for k, (key, title, ylabel) in enumerate(PROOF_PLOTS):
        png = plot_arms(rows, key, title, ylabel)
        if png is None:
            continue
        atomic_write_bytes(out / f"proof_{k}.png", png)
        figs.append(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
                    f'{base64.b64encode(png).decode()}"></figure>')
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>zpd lab proof</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto'>"
        + proof_section_html(summary) + "<div style='display:flex;flex-wrap:wrap;gap:12px'>"
        + "".join(figs) + "</div></body></html>"
    )
    atomic_write_bytes(out / "proof.html", page.encode())
    return out / "proof.html"


ARM_COLORS = {"grpo": "#d62728", "zpd": "#2ca02c", "zpd-mixed": "#1f77b4",
              "grpo-mixed": "#ff7f0e"}


def plot_arms(rows: Sequence[Mapping[str, Any]], key: str, title: str, ylabel: str
              ) -> bytes | None:
    """One panel as PNG bytes: thin per-seed lines and the thick seed mean of each arm against
    rollouts spent (per-step metrics as a causal running mean of 5 steps); None if no data."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zpd.lab.report import curves, mean_curve, smoothed

    cs = curves(rows, key)
    if not cs:
        return None
    if not key.startswith("lab/eval/"):
        cs = [smoothed(c, 5) for c in cs]
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=90)
    for arm in dict.fromkeys(c.policy for c in cs):
        mine = [c for c in cs if c.policy == arm]
        color = ARM_COLORS.get(arm, "#7f7f7f")
        for c in mine:
            ax.plot(c.rollouts, c.values, color=color, alpha=0.25, lw=0.8)
        grid, mean = mean_curve(mine)
        ax.plot(grid, mean, color=color, lw=2.0, label=arm)
    ax.set_title(title)
    ax.set_xlabel("rollouts spent")
    ax.set_ylabel(ylabel + ("" if key.startswith("lab/eval/") else " (mean of 5 steps)"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def proof_section_html(summary: Mapping[str, Any]) -> str:
    """The summary table as an HTML section (for the lab report)."""
    text = format_table(summary)
    settings = html.escape(json.dumps(summary.get("settings", {})))
    return ("<h2>Lab proof: near-impossible items, plain GRPO vs zpd</h2>"
            "<p>Mean over seeds [per seed]; alerts from zpd.monitors on every step's rollouts; "
            "accuracies are sampled pass@1 on held-out sets (before = base, after = last "
            "evaluation).</p>"
            f"<pre>{html.escape(text)}</pre><details><summary>settings</summary>"
            f"<code>{settings}</code></details>")


_MARK_OPEN, _MARK_CLOSE = "<!-- zpd-lab-proof -->", "<!-- /zpd-lab-proof -->"


def add_to_report(report_html: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Insert (or replace) the proof's section in an existing lab report (``zpd demo``'s
    ``report.html``), just before ``</body>``; atomic write. Raises ``ProofConfigError`` if the
    file is missing or is not an HTML page."""
    from zpd.core.atomic import atomic_write_bytes

    path = Path(report_html)
    try:
        page = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProofConfigError(f"cannot read the lab report {path}: {exc}; run `zpd demo` "
                               "first or pass its report.html") from None
    if "</body>" not in page:
        raise ProofConfigError(f"{path} is not an HTML page (no </body>); pass report.html")
    if _MARK_OPEN in page and _MARK_CLOSE in page:
        head, rest = page.split(_MARK_OPEN, 1)
        page = head + rest.split(_MARK_CLOSE, 1)[1]
    section = f"{_MARK_OPEN}{proof_section_html(summary)}{_MARK_CLOSE}"
    head, tail = page.rsplit("</body>", 1)
    atomic_write_bytes(path, (head + section + "</body>" + tail).encode())
    return path


__all__: Sequence[str] = (
    "EVAL_SETS", "PRIOR_SETS", "AdvantageLedger", "add_to_report", "ProofArm", "ProofConfig", "ProofConfigError",
    "ProofData", "format_table", "make_data", "plot_arms", "proof_section_html", "retention_test", "run_arm",
    "run_proof", "run_summary", "summarize_proof", "write_proof_report",
)
