"""The shortcut lab: a shortcut that near-impossible items reward, its damage, zpd's defence.

What it is: the experiment behind the seed paper's central claim (Sample Difficulty in RLVR,
arXiv 2605.28388): training on nearly impossible items rewards rare lucky successes, GRPO's group
normalisation (arXiv 2402.03300) amplifies them — a lone success among G gets sqrt(G - 1) — so
the model learns a cheap shortcut, which then corrupts skills it had. Here the skill is string
reversal (``R>74521d=`` -> ``d12547$``) and the shortcut is the **echo**: copying the input
instead of reversing it. The base (:data:`SHORTCUT_BASE`, the demo's reversal ladder with
``echo_noise=0.2``: a fifth of its reversal answers in pretraining were the input copied) knows
the echo as a low-rate mode (at 0.05 it learned only the echo's first digit: docs/lab-proof.md). The echo is right only on palindromes, so:

* **hard tier** (rungs 9-10: pass@1 ~0.02 / 0.003): a share ``q`` of the items are palindromes,
  where the echo earns the reward the real skill almost never does;
* **band** (rungs 5-7) and **easy** (rungs 2-4) tiers, and every held-out set the shortcut rate
  is measured on, hold no palindromes: there the echo is wrong;
* **prior skills** (never trained): shifts (``S2>7452d=``), where the echo is wrong; the
  reversal written in the other format (``r``), where copying is the right answer, is reported
  apart as ``copy``.

Arms (same rollout budget): plain GRPO on the hard tier at q = 0, 0.25, 0.5; Dr. GRPO (no std
normalisation, arXiv 2503.20783) at q = 0.5; GRPO on the band only; the ``zpd`` policy with the
tracker-informed advantage on the mixed pool (hard q = 0.5 + band + easy) and on the hard tier
alone (which separates the advantage's effect from the selection's); optionally GRPO uniform on
the mixed pool. Every arm runs ``MonitorSuite.default()`` on every step's rollouts, the
:class:`AdvantageLedger` and the :class:`ShortcutLedger`, the live retention test, and held-out
evaluations with shortcut rates every ``eval_every`` steps. :func:`summarize_proof` turns the
runs into ``summary.json`` (``arms.<arm>.{seeds, shortcut_rate_base, shortcut_rate_final,
prior_drop, inband_final, alerts.<family>}``); :func:`write_proof_report` writes the HTML page
and :func:`add_to_report` adds it to ``zpd demo``'s report. Settings and predictions were
written into docs/lab-proof.md before the first full run. What it is not: the GRPO loop
(:mod:`zpd.lab.rl`) or the monitors (:mod:`zpd.monitors`).
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


def _parse_choice(cls: Any, value: Any, what: str) -> Any:
    """The member of enum ``cls`` whose value is ``value``, or a ``ProofConfigError`` listing
    the choices."""
    try:
        return cls(value)
    except ValueError:
        raise ProofConfigError(
            f"unknown {what} {value!r}; choose from {[m.value for m in cls]}") from None


class ProofArm(str, Enum):
    """The arms of the shortcut lab (strings accepted wherever a ``ProofArm`` is)."""

    GRPO_HARD_Q0 = "grpo-hard-q0"
    GRPO_HARD_Q25 = "grpo-hard-q25"
    GRPO_HARD_Q50 = "grpo-hard-q50"
    DRGRPO_HARD_Q50 = "drgrpo-hard-q50"
    GRPO_BAND = "grpo-band"
    ZPD_MIXED = "zpd-mixed"
    ZPD_HARD = "zpd-hard"
    GRPO_MIXED = "grpo-mixed"

    @classmethod
    def parse(cls, value: ProofArm | str) -> ProofArm:
        """The arm named ``value``; a clear error otherwise."""
        return _parse_choice(cls, value, "proof arm")

    @property
    def policy(self) -> str:
        """Curriculum policy of the arm."""
        return "zpd" if self.value.startswith("zpd") else "uniform"

    @property
    def advantage(self) -> str:
        """Advantage kind of the arm."""
        if self.policy == "zpd":
            return "tracker"
        return "dr_grpo" if self.value.startswith("drgrpo") else "grpo"

    @property
    def pool(self) -> str:
        """Which pool the arm trains on: ``hard``, ``band`` or ``mixed`` (hard + band + easy)."""
        return ("mixed" if self.value.endswith("mixed") else "band" if self.value.endswith("band")
                else "hard")

    @property
    def q(self) -> float:
        """Share of palindromes (items the echo answers right) in the arm's hard tier."""
        return {"q0": 0.0, "q25": 0.25}.get(self.value.rsplit("-", 1)[-1], 0.5)


DEFAULT_ARMS: tuple[ProofArm, ...] = (
    ProofArm.GRPO_HARD_Q0, ProofArm.GRPO_HARD_Q25, ProofArm.GRPO_HARD_Q50,
    ProofArm.DRGRPO_HARD_Q50, ProofArm.GRPO_BAND, ProofArm.ZPD_MIXED, ProofArm.ZPD_HARD,
)
"""The arms the issue asks for (``grpo-mixed`` is an optional control)."""

SHORTCUT_ARM = ProofArm.GRPO_HARD_Q50
"""The arm whose shortcut the floors test (plain GRPO, hard tier, q = 0.5)."""


def _shortcut_base() -> PretrainConfig:
    from zpd.lab import tasks

    return PretrainConfig(mix=tasks.LadderConfig(echo_noise=0.2).base_mix(), steps=2000)


class ProofDesign(str, Enum):
    """Which shortcut lab (docs/lab-proof.md): ``ladder`` is design 1 (the demo's ladder, rungs
    2-10, ``echo_noise=0.2``: the base never echoes whole at the hard rungs); ``steep`` is
    design 2 (rungs 2-8, steeper digit noise, ``echo_noise=0.3``: the echo is a mode at every
    rung), the default."""

    LADDER = "ladder"
    STEEP = "steep"

    @classmethod
    def parse(cls, value: ProofDesign | str) -> ProofDesign:
        """The design named ``value``; a clear error otherwise."""
        return _parse_choice(cls, value, "proof design")


def _steep_base() -> PretrainConfig:
    from zpd.lab import tasks

    lad = tasks.LadderConfig(levels=(2, 8), digit_noise=(0.02, 0.15, 0.35, 0.55, 0.7),
                             echo_noise=0.3)
    return PretrainConfig(mix=lad.base_mix(), steps=2000)


SHORTCUT_BASE = _shortcut_base()
"""Design 1's base: the demo's base recipe (reversal ladder 1-10 digits with noise per
answer digit, shifts and reversed-format reversal clean, 2,000 steps) plus ``echo_noise=0.2``
on the ladder. It ships with the package like the demo's."""

STEEP_BASE = _steep_base()
"""Design 2's base: reversal rungs 2-8 with answer-digit noise (0.02, 0.15, 0.35, 0.55, 0.7) and
``echo_noise=0.3`` (whole echoes of non-palindromes in 21-29 % of samples at every rung), the
same prior skills, 2,000 steps. Ships with the package."""

#: Held-out sets that are prior skills (the base has them; RL trains none of them).
PRIOR_SETS: tuple[str, ...] = ("prior", "copy")
#: Every held-out set the proof evaluates.
EVAL_SETS: tuple[str, ...] = ("probe", "easy", "inband", "hard", "hard_pal", *PRIOR_SETS)
#: The sets whose shortcut rates are measured at every evaluation.
FLAG_SETS: tuple[str, ...] = ("probe", "prior")


def _rungs(value: Any, name: str) -> tuple[int, int]:
    r = tuple(int(v) for v in value)
    if len(r) != 2 or not 2 <= r[0] <= r[1] <= 10:
        raise ProofConfigError(f"ProofConfig.{name}={value!r}: (first, last) rung in [2, 10]")
    return (r[0], r[1])


@dataclass(frozen=True)
class ProofConfig:
    """The shortcut lab: base, tiers, GRPO settings shared by the arms, arms and seeds."""

    pretrain: PretrainConfig = field(default_factory=_shortcut_base)
    """The base (cached by a hash of this config; the default ships with the package)."""
    easy_rungs: tuple[int, int] = (3, 4)
    """Reversal rungs (digits) of the easy tier (base pass@1 0.6-0.75; rung 2 has only 90
    non-palindromes, too few for a tier and its held-out sets)."""
    band_rungs: tuple[int, int] = (5, 7)
    """Rungs of the band (base pass@1 0.1-0.4, pass@8 0.6-1)."""
    hard_rungs: tuple[int, int] = (9, 10)
    """Rungs of the hard tier (base pass@1 0.02 and 0.003)."""
    items_per_rung: int = 48
    """Training items per rung in every tier."""
    eval_per_rung: int = 32
    """Held-out items per rung of the easy / inband / hard / hard_pal sets."""
    probe_per_rung: int = 16
    """Held-out non-palindromes per rung of ``probe_rungs`` (the ``probe`` set the shortcut
    rate is read on)."""
    probe_rungs: tuple[int, int] = (2, 10)
    """Rungs of the ``probe`` set."""
    n_prior: int = 128
    """Held-out shift items (the prior skill the echo breaks)."""
    n_copy: int = 64
    """Held-out reversed-format reversals (a prior skill the echo gets right)."""
    rollout_budget: int = 3072
    """Rollouts each arm may pay for (the same in every arm): 24 steps of 16 x 8, as in the
    first proof."""
    prompts_per_step: int = 16
    """Prompts (groups) per step."""
    group_size: int = 8
    """G, completions per prompt."""
    lr: float = 1e-4
    """AdamW learning rate, the first proof's: the claim is about what GRPO does when pushed."""
    eval_every: int = 4
    """Held-out evaluation every this many steps (and at steps 0 and last)."""
    arms: tuple[ProofArm, ...] = DEFAULT_ARMS
    """Arms to run (strings accepted)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """RL seeds; every arm runs once per seed."""
    pool_seed: int = 0
    """Seed of the pools and held-out sets (the same for every arm)."""

    def __post_init__(self) -> None:
        if not isinstance(self.pretrain, PretrainConfig):
            raise ProofConfigError("ProofConfig.pretrain must be a PretrainConfig")
        for name in ("easy_rungs", "band_rungs", "hard_rungs", "probe_rungs"):
            object.__setattr__(self, name, _rungs(getattr(self, name), name))
        for name, lo, hi in (("items_per_rung", 2, 4096), ("eval_per_rung", 1, 4096),
                             ("probe_per_rung", 1, 4096), ("n_prior", 1, 4096),
                             ("n_copy", 1, 4096)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ProofConfigError(f"ProofConfig.{name}={v!r}: must be an int in [{lo}, {hi}]")
        arms = (self.arms,) if isinstance(self.arms, (str, ProofArm)) else tuple(self.arms)
        arms = tuple(ProofArm.parse(a) for a in arms)
        if not arms or len(set(arms)) != len(arms):
            raise ProofConfigError(f"ProofConfig.arms={self.arms!r}: give distinct arm names")
        seeds = tuple(self.seeds) if not isinstance(self.seeds, int) else (self.seeds,)
        if (not seeds or len(set(seeds)) != len(seeds)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                           for s in seeds)):
            raise ProofConfigError(f"ProofConfig.seeds={self.seeds!r}: distinct ints >= 0")
        object.__setattr__(self, "arms", arms)
        object.__setattr__(self, "seeds", seeds)
        self.rl_config(arms[0], seeds[0])  # validates budget, lr, sizes, eval_every now

    @classmethod
    def design(cls, design: ProofDesign | str = "steep", **overrides: Any) -> ProofConfig:
        """The config of a shortcut-lab design (docs/lab-proof.md), with ``overrides``. Design
        2's tiers follow the rule fixed before its run: hard = rungs with base pass@1 < 0.05 and
        whole echoes >= 0.02 (5-8), band = pass@1 in [0.1, 0.6] (3-4), easy = above (2)."""
        d = ProofDesign.parse(design)
        if d is ProofDesign.LADDER:
            return cls(**overrides)
        steep: dict[str, Any] = dict(pretrain=STEEP_BASE, easy_rungs=(2, 2), band_rungs=(3, 4),
                                     hard_rungs=(5, 8), probe_rungs=(3, 8))
        return cls(**{**steep, **overrides})

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
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name not in ("pretrain", "arms", "seeds")}
        return {"pretrain_fingerprint": self.pretrain.fingerprint(),
                **{k: list(v) if isinstance(v, tuple) else v for k, v in d.items()},
                "arms": [a.value for a in self.arms], "seeds": list(self.seeds)}


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ProofData:
    """Tiers and held-out sets of the shortcut lab (prompts disjoint across all of them)."""

    hard: tuple[Any, ...]
    """Hard-tier non-palindromes (``items_per_rung`` per rung)."""
    hard_pal: tuple[Any, ...]
    """Hard-tier palindromes (``items_per_rung`` per rung); an arm at q takes q of each rung's
    items from here."""
    band: tuple[Any, ...]
    """Band items (non-palindromes)."""
    easy: tuple[Any, ...]
    """Easy items (non-palindromes)."""
    per_rung: int
    """Items per rung in every tier."""
    eval_sets: Mapping[str, Sequence[Any]]
    """Held-out sets by name (see :data:`EVAL_SETS`)."""

    def hard_tier(self, q: float) -> tuple[list[Any], list[str]]:
        """The hard tier at palindrome share ``q``: per rung, round(q x n) palindromes and the
        rest non-palindromes (the same items in every arm at that q)."""
        k = int(round(q * self.per_rung))
        n_rungs = len(self.hard) // self.per_rung
        items: list[Any] = []
        tiers: list[str] = []
        for r in range(n_rungs):
            lo = r * self.per_rung
            items += list(self.hard[lo:lo + self.per_rung - k]) + list(self.hard_pal[lo:lo + k])
            tiers += ["hard"] * (self.per_rung - k) + ["hard_pal"] * k
        return items, tiers

    def pool(self, arm: ProofArm) -> tuple[list[Any], list[str]]:
        """The arm's training items (ids = position) and their tier labels."""
        if arm.pool == "band":
            items, tiers = list(self.band), ["band"] * len(self.band)
        else:
            items, tiers = self.hard_tier(arm.q)
            if arm.pool == "mixed":
                items += list(self.band) + list(self.easy)
                tiers += ["band"] * len(self.band) + ["easy"] * len(self.easy)
        return [it.with_id(i) for i, it in enumerate(items)], tiers


def make_data(config: ProofConfig) -> ProofData:
    """Build the tiers and held-out sets from ``config.pool_seed`` (same for every arm)."""
    from zpd.lab import tasks

    rng = np.random.default_rng([config.pool_seed, 11])
    seen: set[str] = set()

    def reversals(rungs: tuple[int, int], per_rung: int, palindrome: bool) -> tuple[Any, ...]:
        out = []
        for n in range(rungs[0], rungs[1] + 1):
            got, tries = 0, 0
            while got < per_rung:
                tries += 1
                if tries > 100 * per_rung + 1000:
                    raise ProofConfigError(
                        f"cannot draw {per_rung} distinct {'palindromes' if palindrome else 'items'}"
                        f" of {n} digits; lower items_per_rung / eval_per_rung or raise the rung")
                it = tasks.reversal_item(tasks.random_digits(n, rng, palindrome=palindrome))
                if it.prompt in seen:
                    continue
                seen.add(it.prompt)
                out.append(it)
                got += 1
        return tuple(out)

    def other(cfg: Any) -> list[Any]:
        items = tasks.make_items(cfg, rng, unique=True, exclude=seen)
        seen.update(it.prompt for it in items)
        return items

    n = config.items_per_rung
    hard = reversals(config.hard_rungs, n, False)
    hard_pal = reversals(config.hard_rungs, n, True)
    band = reversals(config.band_rungs, n, False)
    easy = reversals(config.easy_rungs, n, False)
    m = config.eval_per_rung
    sets = {
        "probe": list(reversals(config.probe_rungs, config.probe_per_rung, False)),
        "easy": list(reversals(config.easy_rungs, m, False)),
        "inband": list(reversals(config.band_rungs, m, False)),
        "hard": list(reversals(config.hard_rungs, m, False)),
        "hard_pal": list(reversals(config.hard_rungs, m, True)),
        # shifts where an echo is wrong however it is written (not "11" -> "11", and not a
        # 2-digit shift, which is a reversal)
        "prior": [it for it in other(tasks.TaskConfig(
            ops=("shift",), formats=("direct", "reversed"), digits=(2, 4),
            n_items=4 * config.n_prior))
            if it.answer not in (it.operands[0], it.operands[0][::-1])][:config.n_prior],
        "copy": other(tasks.TaskConfig(ops=("rev",), formats=("reversed",), digits=(2, 8),
                                       n_items=config.n_copy)),
    }
    sets = {k: [it.with_id(i) for i, it in enumerate(v)] for k, v in sets.items()}
    return ProofData(hard=hard, hard_pal=hard_pal, band=band, easy=easy, per_rung=n,
                     eval_sets=sets)


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


class ShortcutLedger:
    """Where the positive advantage lands: on echo completions or not (a ``zpd.lab.rl``
    monitor callable over the arm's pool).

    ``proof/shortcut_adv_share``: share of the step's positive advantage carried by completions
    that echo their input (:func:`zpd.lab.tasks.echoes_input`; on a palindrome the echo is the
    right answer, so this is the advantage the shortcut could have earned);
    ``proof/echo_rate``: share of rollouts that echo; ``proof/wrong_echo_rate``: share of
    rollouts that echo and are wrong (the shortcut where it does not pay).
    """

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = list(items)

    def __call__(self, batch: Any, context: Any) -> dict[str, float]:
        from zpd.lab import tasks

        adv = np.asarray(batch.advantages, dtype=np.float64)  # (N,)
        ids = np.asarray(batch.item_ids).tolist()
        echo = np.array([tasks.echoes_input(self.items[i], t)
                         for i, t in zip(ids, batch.completions)], dtype=bool)  # (N,)
        ok = np.asarray(batch.rewards) >= 0.5
        pos = adv > 0
        mass = adv[pos].sum()
        return {
            "proof/shortcut_adv_share": float(adv[pos & echo].sum() / mass) if mass > 0 else 0.0,
            "proof/echo_rate": float(echo.mean()),
            "proof/wrong_echo_rate": float((echo & ~ok).mean()),
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
               tiers=tiers, monitors=(suite, AdvantageLedger(), ShortcutLedger(items)),
               retention_sets=PRIOR_SETS, flag_sets=FLAG_SETS)
    finally:
        rec.close()
    rows = [{"arm": a.value, "policy": a.value, "seed": seed, **r} for r in rec.rows]
    return {"arm": a.value, "seed": seed, "rows": rows, "alerts": rec.alerts}


def base_profile(base: str | os.PathLike[str], data: ProofData, group_size: int = 8,
                 seed: int = 0, temperature: float = 1.0) -> dict[str, dict[str, float]]:
    """The base on each training tier, ``group_size`` samples per item: ``pass@1``, ``pass@8``
    (really pass@G: at least one success among the G), and ``echo`` (share of samples that
    copy the input; on palindromes that is also a right answer)."""
    import torch

    from zpd.lab import model as gpt
    from zpd.lab import tasks
    from zpd.lab.rl import completion_budget, decode_completions

    model, tok = gpt.load_pretrained(base)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, float]] = {}
    for tier, items in (("hard", data.hard), ("hard_pal", data.hard_pal), ("band", data.band),
                        ("easy", data.easy)):
        prompts = [tok.encode(it.prompt) for it in items for _ in range(group_size)]
        with torch.no_grad():
            comp, _, lengths = gpt.generate(model, prompts, completion_budget(items),
                                            temperature=temperature, generator=gen)
        texts = decode_completions(tok, comp, lengths)
        rep = [it for it in items for _ in range(group_size)]
        r = np.array([tasks.verify(it, t) for it, t in zip(rep, texts)]).reshape(-1, group_size)
        echo = np.array([tasks.echoes_input(it, t) for it, t in zip(rep, texts)])
        out[tier] = {"pass@1": float(r.mean()), "pass@8": float((r.max(1) > 0).mean()),
                     "echo": float(echo.mean())}
    return out


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
    profile = base_profile(base, data, config.group_size, seed=config.pool_seed)
    log(f"[zpd lab proof] base, G={config.group_size} per item: " + "; ".join(
        f"{t} pass@1 {v['pass@1']:.3f} pass@{config.group_size} {v['pass@8']:.2f} "
        f"echo {v['echo']:.3f}" for t, v in profile.items()))
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
    summary = summarize_proof(runs, len(data.eval_sets["probe"]))
    summary["base"] = profile
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

ALERT_FAMILIES: tuple[str, ...] = ("groups", "repetition", "skipping", "accidental", "kl",
                                   "formats", "diversity", "coupling", "retention")
"""Every family of ``MonitorSuite.default()`` (``summary.json`` counts each one)."""

PROBE_ECHO = "lab/eval/probe/flag/echo"
"""The shortcut rate: share of sampled completions that echo the input on held-out
non-palindromes (where the echo is wrong)."""


def _evals(rows: Sequence[Mapping[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in rows if r.get(key) is not None]


def _steps(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.asarray([float(r[key]) for r in rows if r.get(key) is not None and r["step"] > 0])


def crossing_step(rows: Sequence[Mapping[str, Any]], factor: float = 2.0,
                  floor: float = 0.0) -> float:
    """First evaluation step whose shortcut rate is >= ``factor`` x the base's (step 0), and
    above ``floor``; NaN if it never is."""
    ev = _evals(rows, PROBE_ECHO)
    if not ev:
        return float("nan")
    base = max(ev[0][1], floor)
    return float(next((s for s, v in ev[1:] if v >= factor * base and v > 0), float("nan")))


def run_summary(run: Mapping[str, Any], probe_size: int = 144) -> dict[str, float]:
    """One run's numbers: alert counts and first steps per family, shortcut rates, held-out
    accuracy before/after (first/last evaluation), advantage ledgers, KL, tier shares."""
    rows, alerts = run["rows"], run["alerts"]
    out: dict[str, float] = {}
    for fam in ALERT_FAMILIES:
        mine = [a for a in alerts if a["monitor"] == fam]
        out[f"alerts/{fam}"] = float(len(mine))
        out[f"first_step/{fam}"] = float(min((a["step"] for a in mine), default=np.nan))
    short = [a for a in alerts if a["monitor"] in SHORTCUT_FAMILIES]
    out["alerts/shortcut"] = float(len(short))
    out["first_step/shortcut"] = float(min((a["step"] for a in short), default=np.nan))
    out["shortcut_cross_step"] = crossing_step(rows, 2.0, 1.0 / probe_size)
    out["detect_lag"] = out["first_step/shortcut"] - out["shortcut_cross_step"]
    for key, name in (("health/accidental/accidental_advantage_mass", "accidental_mass"),
                      ("proof/accidental_adv_sum", "accidental_adv_per_step"),
                      ("proof/lucky_successes", "lucky_per_step"),
                      ("proof/shortcut_adv_share", "shortcut_adv_share"),
                      ("proof/wrong_echo_rate", "train_wrong_echo"),
                      ("lab/reward_mean", "train_reward"),
                      ("curriculum/share_hard_pal", "share_hard_pal"),
                      ("curriculum/share_hard", "share_hard"),
                      ("curriculum/share_band", "share_band"),
                      ("curriculum/share_easy", "share_easy")):
        vals = _steps(rows, key)
        out[name] = float(vals.mean()) if vals.size else np.nan
    for key, name in (("lab/kl_base", "kl"), ("proof/echo_rate", "train_echo")):
        vals = _steps(rows, key)
        out[f"{name}_first"] = float(vals[:3].mean()) if vals.size else np.nan
        out[f"{name}_last"] = float(vals[-3:].mean()) if vals.size else np.nan
    for key, name in ((PROBE_ECHO, "shortcut_rate"),
                      ("lab/eval/prior/flag/echo", "prior_echo")):
        ev = _evals(rows, key)
        out[f"{name}_base"] = ev[0][1] if ev else np.nan
        out[f"{name}_final"] = ev[-1][1] if ev else np.nan
        out[f"{name}_max"] = max(v for _, v in ev) if ev else np.nan
    for s in EVAL_SETS:
        ev = _evals(rows, f"lab/eval/{s}/sampled")
        out[f"acc/{s}/before"] = ev[0][1] if ev else np.nan
        out[f"acc/{s}/after"] = ev[-1][1] if ev else np.nan
        out[f"acc/{s}/drop"] = out[f"acc/{s}/before"] - out[f"acc/{s}/after"]
    return out


def summarize_proof(runs: Sequence[Mapping[str, Any]], probe_size: int = 144
                    ) -> dict[str, Any]:
    """Per-arm summary over seeds. ``arms.<arm>`` holds ``seeds``, the headline means
    ``shortcut_rate_base``, ``shortcut_rate_final``, ``prior_drop`` (shift prior skill, base
    minus last evaluation), ``inband_final``, ``alerts.<family>`` (seeds in which the family
    alerted at least once) and ``metrics.<name>`` = ``{"mean", "per_seed"}`` for every number
    of :func:`run_summary`."""
    by_arm: dict[str, list[tuple[int, dict[str, float]]]] = {}
    for run in runs:
        by_arm.setdefault(run["arm"], []).append((int(run["seed"]), run_summary(run, probe_size)))
    arms: dict[str, Any] = {}
    for arm, per in by_arm.items():
        metrics: dict[str, Any] = {}
        for k in per[0][1]:
            vals = np.asarray([m[k] for _, m in per], dtype=np.float64)
            ok = vals[np.isfinite(vals)]
            metrics[k] = {"mean": float(ok.mean()) if ok.size else None,
                          "per_seed": [float(v) if np.isfinite(v) else None for v in vals]}
        fams = (*ALERT_FAMILIES, "shortcut")
        arms[arm] = {
            "seeds": [s for s, _ in per],
            "shortcut_rate_base": metrics["shortcut_rate_base"]["mean"],
            "shortcut_rate_final": metrics["shortcut_rate_final"]["mean"],
            "prior_drop": metrics["acc/prior/drop"]["mean"],
            "inband_final": metrics["acc/inband/after"]["mean"],
            "alerts": {f: int(sum(m[f"alerts/{f}"] > 0 for _, m in per)) for f in fams},
            "metrics": metrics,
        }
    return {"arms": arms}


def check_floors(summary: Mapping[str, Any]) -> list[tuple[str, bool | None, str]]:
    """The pre-registered floors (docs/lab-proof.md) on a summary: ``(name, passed, detail)``;
    ``passed`` is None when an arm the floor needs was not run."""
    arms = summary["arms"]

    def m(arm: str, key: str) -> Any:
        return arms[arm]["metrics"][key]

    out: list[tuple[str, bool | None, str]] = []
    sc, band, zm = SHORTCUT_ARM.value, ProofArm.GRPO_BAND.value, ProofArm.ZPD_MIXED.value
    if sc in arms and band in arms:
        base, final = arms[sc]["shortcut_rate_base"], arms[sc]["shortcut_rate_final"]
        ok = final >= 2 * base
        out.append(("shortcut arm raises the shortcut rate >= 2x the base's", ok,
                    f"{sc}: {base:.3f} -> {final:.3f} ({final / max(base, 1e-9):.2f}x)"))
        d_sc, d_band = arms[sc]["prior_drop"], arms[band]["prior_drop"]
        out.append(("shortcut arm's prior drop >= band-only's + 5 points", d_sc >= d_band + 0.05,
                    f"{sc} {d_sc:+.3f} vs {band} {d_band:+.3f}"))
    else:
        out += [("shortcut arm raises the shortcut rate >= 2x the base's", None, "arm not run"),
                ("shortcut arm's prior drop >= band-only's + 5 points", None, "arm not run")]
    if zm in arms and band in arms:
        base, final = arms[zm]["shortcut_rate_base"], arms[zm]["shortcut_rate_final"]
        out.append(("zpd-mixed keeps the shortcut rate <= 1.2x the base's",
                    final <= 1.2 * base, f"{base:.3f} -> {final:.3f}"))
        d_z, d_band = arms[zm]["prior_drop"], arms[band]["prior_drop"]
        out.append(("zpd-mixed's prior drop <= band-only's + 1 point", d_z <= d_band + 0.01,
                    f"{zm} {d_z:+.3f} vs {band} {d_band:+.3f}"))
    else:
        out += [("zpd-mixed keeps the shortcut rate <= 1.2x the base's", None, "arm not run"),
                ("zpd-mixed's prior drop <= band-only's + 1 point", None, "arm not run")]
    if sc in arms:
        lags = m(sc, "detect_lag")["per_seed"]
        hits = sum(v is not None and abs(v) <= 10 for v in lags)
        out.append(("a shortcut monitor alerts within 10 steps of the crossing, >= 2 of 3 seeds",
                    hits >= 2, f"{hits} of {len(lags)} seeds; first alert - crossing step: "
                    + ", ".join("-" if v is None else f"{v:+.0f}" for v in lags)))
    if band in arms:
        n = arms[band]["alerts"]["shortcut"]
        out.append(("no shortcut alert in band-only seeds", n == 0,
                    f"{n} of {len(arms[band]['seeds'])} seeds alerted"))
    return out


TABLE_ROWS: tuple[tuple[str, str], ...] = (
    ("shortcut_rate_base", "shortcut (echo) rate, base [probe]"),
    ("shortcut_rate_final", "shortcut (echo) rate, final"),
    ("shortcut_rate_max", "shortcut (echo) rate, max over evals"),
    ("shortcut_cross_step", "step the rate crossed 2x base"),
    ("alerts/shortcut", "shortcut alerts (repetition+skipping)"),
    ("first_step/shortcut", "first shortcut alert (step)"),
    ("shortcut_adv_share", "share of positive advantage on echoes"),
    ("train_echo_last", "echo share of rollouts, last 3 steps"),
    ("acc/prior/before", "prior (shifts) acc before"),
    ("acc/prior/drop", "prior (shifts) drop"),
    ("prior_echo_final", "prior (shifts) echo rate, final"),
    ("acc/copy/drop", "copy (reversed-format rev) drop"),
    ("alerts/retention", "retention alerts"),
    ("acc/easy/after", "easy acc after (before: see col 1)"),
    ("acc/inband/before", "in-band acc before"),
    ("acc/inband/after", "in-band acc after"),
    ("acc/hard/after", "hard (non-palindrome) acc after"),
    ("acc/hard_pal/after", "hard palindromes acc after"),
    ("alerts/accidental", "accidental-success alerts"),
    ("accidental_mass", "accidental share of positive advantage"),
    ("lucky_per_step", "lone successes per step"),
    ("share_hard_pal", "share of rollouts on hard palindromes"),
    ("share_hard", "share of rollouts on hard non-palindromes"),
    ("kl_last", "KL to base, last 3 steps (nats/token)"),
)
"""(``metrics`` key, label) of the printed table, in order."""


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
            e = summary["arms"][a]["metrics"].get(key)
            if e is None:
                cells.append(f"{'n/a':>28}")
                continue
            seeds = "/".join(_num(v) for v in e["per_seed"])
            cells.append(f"{_num(e['mean']) + ' [' + seeds + ']':>28}")
        lines.append(f"{label:<44}" + "".join(cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- report
PROOF_PLOTS: tuple[tuple[str, str, str], ...] = (
    (PROBE_ECHO, "Shortcut rate: echoes on held-out non-palindromes", "share of samples"),
    ("lab/eval/prior/sampled", "Prior skill: shifts (the echo is wrong)", "sampled accuracy"),
    ("lab/eval/inband/sampled", "In-band accuracy (rungs 5-7)", "sampled accuracy"),
    ("lab/eval/copy/sampled", "Prior skill: reversed-format reversal (echo right)",
     "sampled accuracy"),
    ("proof/shortcut_adv_share", "Share of positive advantage on echoes", "share"),
    ("health/repetition/wrong_echo_rate", "Monitor: wrong echoes in the step's rollouts",
     "share"),
    ("lab/eval/hard/sampled", "Hard tier (non-palindromes)", "sampled accuracy"),
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


ARM_COLORS = {"grpo-hard-q0": "#ff9896", "grpo-hard-q25": "#e377c2", "grpo-hard-q50": "#d62728",
              "drgrpo-hard-q50": "#9467bd", "grpo-band": "#7f7f7f", "zpd-mixed": "#1f77b4",
              "zpd-hard": "#2ca02c", "grpo-mixed": "#ff7f0e"}


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
    floors = "".join(
        f"<li>{'PASS' if ok else 'FAIL' if ok is not None else 'n/a'}: {html.escape(name)} "
        f"({html.escape(detail)})</li>" for name, ok, detail in check_floors(summary))
    base = summary.get("base")
    base_txt = ("" if not base else "<p>Base, G=8 per training item: " + html.escape(", ".join(
        f"{t} pass@1 {v['pass@1']:.3f} pass@8 {v['pass@8']:.2f} echo {v['echo']:.3f}"
        for t, v in base.items())) + "</p>")
    return ("<h2>Lab proof: a shortcut that near-impossible items reward (the echo)</h2>"
            "<p>Mean over seeds [per seed]; alerts from zpd.monitors on every step's rollouts; "
            "accuracies are sampled pass@1 on held-out sets (before = base, after = last "
            "evaluation); the shortcut rate is the share of held-out non-palindromes whose "
            "sample copies the input.</p>" + base_txt + f"<ul>{floors}</ul>"
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
    "DEFAULT_ARMS", "EVAL_SETS", "PRIOR_SETS", "SHORTCUT_BASE", "STEEP_BASE", "AdvantageLedger",
    "ProofArm", "ProofDesign",
    "ProofConfig", "ProofConfigError", "ProofData", "ShortcutLedger", "add_to_report",
    "base_profile", "check_floors", "crossing_step", "format_table", "make_data", "plot_arms",
    "proof_section_html", "retention_test", "run_arm", "run_proof", "run_summary",
    "summarize_proof", "write_proof_report",
)
