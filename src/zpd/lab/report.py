"""The demo's report: one self-contained ``report.html`` from a table of per-step metrics.

What it is: pure functions from metric rows (the JSONL the RL loop writes, one dict per step and
arm) to summary numbers (rollouts-to-target per policy, final and prior-skill accuracies) and to an
HTML page whose plots are matplotlib PNGs inlined as base64, so the file opens anywhere offline.
Also the metric table writers (JSONL and Parquet).

What it is not: it runs no model and reads no checkpoint; the numbers come from
:mod:`zpd.lab.rl`. The floors' PASS/FAIL verdicts live in ``benchmarks/lab_demo_floors.py``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zpd.core.atomic import atomic_open, atomic_write_bytes, strict_dumps

Row = Mapping[str, Any]

#: The headline held-out accuracy (sampled at the training temperature, pool distribution).
HEADLINE = "lab/eval/heldout/sampled"
PRIOR = "lab/eval/prior/sampled"
ROLLOUTS = "curriculum/rollouts"
POLICY_ORDER = ("uniform", "dapo", "mopps", "greso", "learnability", "static", "zpd",
                "greso+filter", "zpd+filter")


class ReportError(ValueError):
    """The metric rows cannot make a report (missing columns, no arms); says what to supply."""


# ----------------------------------------------------------------------------- file writers
def write_jsonl(rows: Iterable[Row], path: str | os.PathLike[str]) -> None:
    """Write rows as JSON lines (atomic). Non-finite floats are written as null."""
    lines = [json.dumps(_jsonable(r), sort_keys=True) for r in rows]
    atomic_write_bytes(path, ("\n".join(lines) + ("\n" if lines else "")).encode())


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read JSON lines; a truncated last line (an interrupted writer) is ignored."""
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def write_parquet(rows: Sequence[Row], path: str | os.PathLike[str]) -> None:
    """Write rows as one Parquet table (columns = union of keys; missing values are null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = sorted({k for r in rows for k in r})
    columns = {k: [_jsonable(r.get(k)) for r in rows] for k in keys}
    with atomic_open(path, "wb") as fh:
        pq.write_table(pa.table(columns), fh)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return value


# ----------------------------------------------------------------------------- summaries
@dataclass(frozen=True)
class Curve:
    """One arm's metric against rollouts spent (rows where the metric was logged)."""

    policy: str
    seed: int
    rollouts: np.ndarray  # (K,) cumulative rollouts incl. dropped ones
    values: np.ndarray  # (K,)


def curves(rows: Sequence[Row], key: str, x: str = ROLLOUTS) -> list[Curve]:
    """Every arm's ``key`` against ``x`` (default: rollouts spent), ordered by policy then seed.
    (``Curve.rollouts`` holds the x values whatever ``x`` is.)"""
    arms: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in rows:
        v = r.get(key)
        if v is None or x not in r or "policy" not in r:
            continue
        arms.setdefault((str(r["policy"]), int(r.get("seed", 0))), []).append(
            (float(r[x]), float(v))
        )
    out = []
    for (policy, seed), pts in sorted(arms.items(), key=lambda kv: (_policy_rank(kv[0][0]), kv[0])):
        pts.sort()
        arr = np.asarray(pts, dtype=float)  # (K, 2)
        out.append(Curve(policy, seed, arr[:, 0], arr[:, 1]))
    return out


def _policy_rank(policy: str) -> int:
    return POLICY_ORDER.index(policy) if policy in POLICY_ORDER else len(POLICY_ORDER)


def policies(rows: Sequence[Row]) -> list[str]:
    """Policies present in the rows, in the report's order."""
    return sorted({str(r["policy"]) for r in rows if "policy" in r}, key=lambda p: (_policy_rank(p), p))


def mean_curve(cs: Sequence[Curve]) -> tuple[np.ndarray, np.ndarray]:
    """Seed-mean of curves on the union of their rollout grids (linear interpolation)."""
    grid = np.unique(np.concatenate([c.rollouts for c in cs]))  # (K,)
    end = min(float(c.rollouts[-1]) for c in cs)
    grid = grid[grid <= end]
    vals = np.stack([np.interp(grid, c.rollouts, c.values) for c in cs])  # (S, K)
    return grid, vals.mean(axis=0)


def rollouts_to_target(rollouts: np.ndarray, values: np.ndarray, target: float) -> float:
    """Rollouts at which ``values`` first reach ``target``, interpolated linearly between the
    evaluation before the crossing and the first one at or above it (NaN if never: censored)."""
    hit = np.nonzero(values >= target - 1e-12)[0]
    if not hit.size:
        return float("nan")
    h = int(hit[0])
    if h == 0 or values[h] <= values[h - 1]:
        return float(rollouts[h])
    frac = (target - values[h - 1]) / (values[h] - values[h - 1])
    return float(rollouts[h - 1] + frac * (rollouts[h] - rollouts[h - 1]))


def smoothed(c: Curve, window: int) -> Curve:
    """Causal running mean over the last ``window`` evaluations (no look-ahead)."""
    if window <= 1:
        return c
    csum = np.cumsum(np.concatenate([[0.0], c.values]))  # (K+1,)
    k = np.arange(1, c.values.size + 1)
    lo = np.maximum(0, k - window)
    return Curve(c.policy, c.seed, c.rollouts, (csum[k] - csum[lo]) / (k - lo))


def summarize(rows: Sequence[Row], baseline: str = "uniform", key: str = HEADLINE,
              window: int = 3) -> dict[str, Any]:
    """Per-policy summary: final and initial accuracy, rollouts to the baseline's final accuracy.

    Each arm's curve is first smoothed by a causal running mean over its last ``window``
    evaluations (held-out accuracy on a few hundred items is noisy at the plateau). The target is
    the baseline's final smoothed accuracy (mean over its seeds). Rollouts-to-target is read from
    each policy's seed-mean curve (and per seed), counting every rollout paid for, dapo's dropped
    ones included. Prior-skill drop is initial minus final (smoothed) prior-skill accuracy.
    """
    by_policy: dict[str, list[Curve]] = {}
    for c in curves(rows, key):
        by_policy.setdefault(c.policy, []).append(smoothed(c, window))
    if baseline not in by_policy:
        raise ReportError(
            f"no '{key}' rows for baseline policy '{baseline}'; run that arm or pass baseline="
        )
    target = float(np.mean([c.values[-1] for c in by_policy[baseline]]))
    prior: dict[str, list[Curve]] = {}
    for c in curves(rows, PRIOR):
        prior.setdefault(c.policy, []).append(smoothed(c, window))
    out: dict[str, Any] = {"target": target, "baseline": baseline, "key": key, "window": window,
                           "policies": {}}
    for policy, cs in by_policy.items():
        grid, mean = mean_curve(cs)
        per_seed = [rollouts_to_target(c.rollouts, c.values, target) for c in cs]
        entry = {
            "seeds": [c.seed for c in cs],
            "initial": float(np.mean([c.values[0] for c in cs])),
            "final": float(np.mean([c.values[-1] for c in cs])),
            "final_per_seed": [float(c.values[-1]) for c in cs],
            "rollouts_total": float(np.mean([c.rollouts[-1] for c in cs])),
            "rollouts_to_target": rollouts_to_target(grid, mean, target),
            "rollouts_to_target_per_seed": per_seed,
        }
        if policy in prior:
            pc = prior[policy]
            entry["prior_initial"] = float(np.mean([c.values[0] for c in pc]))
            entry["prior_final"] = float(np.mean([c.values[-1] for c in pc]))
            entry["prior_drop"] = entry["prior_initial"] - entry["prior_final"]
        out["policies"][policy] = entry
    for k, name in (("curriculum/informative_frac", "informative_frac"),
                    ("curriculum/share_band", "share_band"), ("lab/kl_base", "kl_final")):
        per = {}
        for c in curves(rows, k):
            v = float(c.values[-5:].mean()) if name == "kl_final" else float(c.values.mean())
            per.setdefault(c.policy, []).append(v)
        for policy, vals in per.items():
            if policy in out["policies"]:
                out["policies"][policy][name] = float(np.mean(vals))
    base_rtt = out["policies"][baseline]["rollouts_to_target"]
    for entry in out["policies"].values():
        entry["ratio_to_baseline"] = entry["rollouts_to_target"] / base_rtt if base_rtt else math.nan
    _add_paired(out, by_policy, baseline)
    _add_updates(out, rows, key, window, target, baseline)
    _add_costs(out, rows)
    return out


def _add_paired(out: dict[str, Any], by_policy: Mapping[str, Sequence[Curve]],
                baseline: str) -> None:
    """Per seed, rollouts-to-target over the baseline's on the same seed (paired); a seed
    that never reached the target is censored: its ratio is a lower bound (budget spent / the
    baseline's), flagged in ``censored_seeds``."""
    base = {c.seed: rollouts_to_target(c.rollouts, c.values, out["target"])
            for c in by_policy[baseline]}
    for policy, cs in by_policy.items():
        e = out["policies"][policy]
        ratios, censored = [], 0
        for c in cs:
            r = rollouts_to_target(c.rollouts, c.values, out["target"])
            b = base.get(c.seed, math.nan)
            if math.isnan(r):
                censored += 1
                r = float(c.rollouts[-1])
            ratios.append(r / b if b and not math.isnan(b) else math.nan)
        e["ratio_per_seed"] = ratios
        e["censored_seeds"] = censored


def _add_updates(out: dict[str, Any], rows: Sequence[Row], key: str, window: int,
                 target: float, baseline: str) -> None:
    """Optimizer updates to the target (seed-mean curve on the update axis)."""
    per: dict[str, list[Curve]] = {}
    for c in curves(rows, key, x="step"):
        per.setdefault(c.policy, []).append(smoothed(c, window))
    for policy, cs in per.items():
        if policy in out["policies"]:
            grid, mean = mean_curve(cs)
            out["policies"][policy]["updates_to_target"] = rollouts_to_target(grid, mean, target)
    b = out["policies"].get(baseline, {})
    b_u = b.get("updates_to_target", math.nan)
    for e in out["policies"].values():
        ur = e.get("updates_to_target", math.nan) / b_u if b_u else math.nan
        e["derived_time_ratio_gen75"] = 0.75 * e["ratio_to_baseline"] + 0.25 * ur


def _final_values(rows: Sequence[Row], key: str) -> dict[str, list[float]]:
    """Each arm's last logged ``key``, grouped by policy (one value per seed)."""
    per: dict[str, list[float]] = {}
    for c in curves(rows, key):
        per.setdefault(c.policy, []).append(float(c.values[-1]))
    return per


def _add_costs(out: dict[str, Any], rows: Sequence[Row]) -> None:
    """Wall clock (and its parts), coverage and the mean rung of the items each policy chose."""
    parts = sorted({k.split("/")[-1] for r in rows for k in r if k.startswith("lab/time/")})
    final = {key: _final_values(rows, key) for key in (
        "lab/seconds", "lab/coverage/distinct", "lab/coverage/max_share",
        *(f"lab/time/{part}" for part in parts))}  # each key's curves read once
    rung: dict[str, list[float]] = {}
    for c in curves(rows, "curriculum/mean_n_digits"):
        rung.setdefault(c.policy, []).append(float(c.values.mean()))
    for policy, e in out["policies"].items():
        if policy in final["lab/seconds"]:
            e["wall_seconds"] = float(np.mean(final["lab/seconds"][policy]))
            split = {part: float(np.mean(final[f"lab/time/{part}"].get(policy, [0])))
                     for part in parts}
            e["seconds_by_part"] = split
            e["curriculum_share"] = split.get("curriculum", 0.0) / max(e["wall_seconds"], 1e-9)
        distinct = final["lab/coverage/distinct"].get(policy)
        if distinct:
            e["distinct_trained"] = float(np.mean(distinct))
        share = final["lab/coverage/max_share"].get(policy)
        if share:
            e["max_batch_share"] = float(max(share))
        if policy in rung:
            e["mean_rung"] = float(np.mean(rung[policy]))


def summarize_protocols(rows: Sequence[Row], protocols: Sequence[Any],
                        key: str = HEADLINE, window: int = 3) -> dict[str, Any]:
    """:func:`summarize` per protocol (its rows, its baseline): ``{"protocols": {name: ...}}``.
    Each policy entry has at least ``rollouts_to_target``, ``ratio_to_baseline``, ``final``,
    ``prior_drop``, ``wall_seconds`` and ``seeds``."""
    out: dict[str, Any] = {}
    for proto in protocols:
        mine = [r for r in rows if r.get("protocol") == proto.name]
        if mine:
            out[proto.name] = summarize(mine, baseline=proto.label(proto.baseline), key=key,
                                        window=window)
            out[proto.name]["post_filter"] = proto.post_filter
    return {"protocols": out}


# ----------------------------------------------------------------------------- plots
@dataclass(frozen=True)
class PlotSpec:
    """One panel of the report: which metric against which x, its title and y label."""

    key: str
    title: str
    ylabel: str
    explain: str
    x: str = ROLLOUTS
    xlabel: str = "rollouts generated (dropped ones included)"


PLOTS = (
    PlotSpec(HEADLINE, "Held-out accuracy vs rollouts", "sampled accuracy (mean over rungs)",
             "Pass@1 at the training temperature on held-out items of every rung."),
    PlotSpec(HEADLINE, "Held-out accuracy vs optimizer updates", "sampled accuracy",
             "The same, per update (filled batches spend several rounds per update).",
             x="step", xlabel="optimizer updates"),
    PlotSpec(HEADLINE, "Held-out accuracy vs wall clock", "sampled accuracy",
             "The same, per second of this CPU (generation, training, curriculum, evaluation).",
             x="lab/seconds", xlabel="seconds"),
    PlotSpec(PRIOR, "Prior-skill retention", "sampled accuracy",
             "Skills the base saw that RL never trains: a drop is damage."),
    PlotSpec("curriculum/informative_frac", "Informative-group fraction", "fraction of groups",
             "Groups with mixed rewards (0 < successes < G): the only ones that teach."),
    PlotSpec("curriculum/mean_n_digits", "The band over time", "mean rung of chosen items",
             "Mean rung (digits) of the items each policy chose to roll out."),
    PlotSpec("lab/shortcut/any", "Shortcut rate", "fraction of completions",
             "Echoed operand, repeated block, skipped scratchpad or ignored carries."),
    PlotSpec("lab/kl_base", "KL to the base model", "nats per token",
             "Mean per-token KL(policy || base) on the step's rollouts."),
)

#: Per-step curves (not evaluations) are drawn as a causal running mean over this many steps.
STEP_WINDOW = 5

COLORS = {"uniform": "#7f7f7f", "dapo": "#1f77b4", "mopps": "#ff7f0e", "zpd": "#2ca02c",
          "greso": "#9467bd", "learnability": "#8c564b", "static": "#e377c2",
          "greso+filter": "#9467bd", "zpd+filter": "#2ca02c"}


def plot_png(rows: Sequence[Row], spec: PlotSpec, target: float | None = None) -> bytes | None:
    """One panel as PNG bytes: thin per-seed lines, thick seed mean; None if nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cs = curves(rows, spec.key, x=spec.x)
    if not cs:
        return None
    if not spec.key.startswith("lab/eval/"):  # per-step statistics: running mean of 5 steps
        cs = [smoothed(c, STEP_WINDOW) for c in cs]
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=90)
    for policy in dict.fromkeys(c.policy for c in cs):
        mine = [c for c in cs if c.policy == policy]
        color = COLORS.get(policy)
        style = "--" if policy.endswith("+filter") else "-"
        for c in mine:
            ax.plot(c.rollouts, c.values, color=color, alpha=0.25, lw=0.8)
        grid, mean = mean_curve(mine)
        ax.plot(grid, mean, color=color, lw=2.0, ls=style, label=policy)
    if target is not None and spec.key == HEADLINE:
        ax.axhline(target, color="black", ls=":", lw=1, label="target (baseline's final)")
    ax.set_title(spec.title)
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# ----------------------------------------------------------------------------- html
def rung_png(rows: Sequence[Row], policy: str) -> bytes | None:
    """Held-out accuracy of every rung over rollouts for one policy (seed means): the band
    moving up the ladder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for r in rows for k in r if k.startswith("lab/eval/L")
                   and k.endswith("/sampled")}, key=lambda k: int(k.split("/")[2][1:]))
    mine = [r for r in rows if r.get("policy") == policy]
    if not keys or not mine:
        return None
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=90)
    cmap = plt.get_cmap("viridis")
    for i, k in enumerate(keys):
        cs = curves(mine, k)
        if cs:
            grid, mean = mean_curve(cs)
            ax.plot(grid, mean, color=cmap(i / max(len(keys) - 1, 1)), lw=1.6,
                    label=k.split("/")[2])
    ax.set_title(f"Accuracy per rung: {policy}")
    ax.set_xlabel("rollouts generated")
    ax.set_ylabel("sampled accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _figure(png: bytes | None, title: str, caption: str) -> str:
    if png is None:
        return ""
    b64 = base64.b64encode(png).decode()
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render_html(rows: Sequence[Row], summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The whole report as one HTML string (plots inlined as base64 PNGs), one section per
    protocol."""
    parts = [_HEAD, "<h1>zpd demo: curriculum policies on a difficulty ladder</h1>"]
    parts.append(f"<p>{html.escape(str(meta.get('description', '')))}</p>")
    parts.append(_profile_table(meta.get("base_profile")))
    for name, s in summary["protocols"].items():
        mine = [r for r in rows if r.get("protocol") == name]
        how = ("every update trains B groups with mixed rewards; every generated rollout is "
               "paid for" if s.get("post_filter") else "the same rollout budget for every policy")
        parts.append(f"<h2>Protocol: {html.escape(name)}</h2><p>{html.escape(how)}.</p>")
        parts.append(_table(s))
        parts.append(_cost_table(s))
        parts.append('<div class="grid">')
        for spec in PLOTS:
            note = "" if spec.key.startswith("lab/eval/") else \
                f" (running mean of {STEP_WINDOW} steps)"
            parts.append(_figure(plot_png(mine, spec, s.get("target")), spec.title,
                                 spec.explain + note))
        for policy in dict.fromkeys([s["baseline"], *(p for p in s["policies"]
                                                        if p.startswith("zpd"))]):
            parts.append(_figure(rung_png(mine, policy), f"rungs {policy}",
                                 f"Held-out accuracy per rung under {policy}: training one "
                                 "rung lifts the next, and the band moves up."))
        parts.append("</div>")
    parts.append(_meta_table(meta))
    parts.append("</body></html>")
    return "\n".join(parts)


def _profile_table(profile: Any) -> str:
    if not isinstance(profile, Mapping) or "rungs" not in profile:
        return ""
    k = profile.get("k", 8)
    cells = "".join(f"<tr><td>L{d}</td><td>{p1:.3f}</td><td>{pk:.3f}</td></tr>"
                    for d, p1, pk in zip(profile["rungs"], profile["pass@1"],
                                         profile[f"pass@{k}"]))
    return (f"<h2>The base on the ladder</h2><table><tr><th>rung (digits)</th><th>pass@1</th>"
            f"<th>pass@{k}</th></tr>{cells}</table><p>Sampled at the training temperature, "
            f"{k} samples per held-out item.</p>")


def _cost_table(summary: Mapping[str, Any]) -> str:
    head = ("<tr><th>policy</th><th>updates to target</th><th>wall s</th><th>generation s</th>"
            "<th>training s</th><th>curriculum s</th><th>curriculum share</th>"
            "<th>derived time ratio (generation 75 %)</th><th>mean rung chosen</th>"
            "<th>distinct prompts trained</th><th>largest batch share of one prompt</th></tr>")
    body = []
    for policy, e in summary["policies"].items():
        part = e.get("seconds_by_part", {})
        body.append(
            f"<tr><td>{html.escape(policy)}</td><td>{_fmt(e.get('updates_to_target'))}</td>"
            f"<td>{_fmt(e.get('wall_seconds'), 1)}</td><td>{_fmt(part.get('generation'), 1)}</td>"
            f"<td>{_fmt(part.get('training'), 1)}</td><td>{_fmt(part.get('curriculum'), 2)}</td>"
            f"<td>{_fmt(e.get('curriculum_share'), 3)}</td>"
            f"<td>{_fmt(e.get('derived_time_ratio_gen75'), 2)}</td>"
            f"<td>{_fmt(e.get('mean_rung'), 2)}</td><td>{_fmt(e.get('distinct_trained'))}</td>"
            f"<td>{_fmt(e.get('max_batch_share'), 2)}</td></tr>")
    cap = ("Derived: what the measured rollouts- and updates-to-target imply when generation is "
           "75 % of a step, as in LLM RLVR (here the tiny model trains a step at a cost close "
           "to generating it).")
    return f"<table>{head}{''.join(body)}</table><p>{html.escape(cap)}</p>"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "not reached"
    if isinstance(x, float):
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.{digits}f}"
    return html.escape(str(x))


def _table(summary: Mapping[str, Any]) -> str:
    head = (
        "<tr><th>policy</th><th>rollouts to target</th><th>x baseline</th><th>per seed</th>"
        "<th>initial acc</th><th>final acc</th><th>prior-skill drop (points)</th>"
        "<th>informative groups</th><th>rollouts in band</th><th>final KL (nats/token)</th></tr>"
    )
    body = []
    for policy, e in summary["policies"].items():
        per_seed = ", ".join(_fmt(v) for v in e["rollouts_to_target_per_seed"])
        if e.get("censored_seeds"):
            per_seed += f" ({e['censored_seeds']} censored)"
        drop = e.get("prior_drop")
        body.append(
            f"<tr><td>{html.escape(policy)}</td><td>{_fmt(e['rollouts_to_target'])}</td>"
            f"<td>{_fmt(e['ratio_to_baseline'], 2)}</td><td>{per_seed}</td>"
            f"<td>{_fmt(e['initial'])}</td><td>{_fmt(e['final'])}</td>"
            f"<td>{_fmt(None if drop is None else 100 * drop, 1)}</td>"
            f"<td>{_fmt(e.get('informative_frac'), 2)}</td><td>{_fmt(e.get('share_band'), 2)}</td>"
            f"<td>{_fmt(e.get('kl_final'), 3)}</td></tr>"
        )
    cap = (
        f"Target: {summary['baseline']}'s final held-out accuracy = {summary['target']:.3f} "
        f"(mean over seeds; every curve smoothed by a running mean over its last "
        f"{summary.get('window', 1)} evaluations). Rollouts count every sampled completion, "
        "dapo's dropped groups included."
    )
    return f"<h2>Rollouts to target</h2><table>{head}{''.join(body)}</table><p>{html.escape(cap)}</p>"


def _meta_table(meta: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td><code>{html.escape(json.dumps(_jsonable(v)))}</code>"
        "</td></tr>"
        for k, v in meta.items()
        if k != "description"
    )
    return f"<details><summary>Run settings</summary><table>{rows}</table></details>"


_HEAD = """<!doctype html><html><head><meta charset="utf-8"><title>zpd demo report</title>
<style>body{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;width:560px}figure img{width:100%}figcaption{font-size:0.85em;color:#555}
code{font-size:0.8em;word-break:break-all}</style></head><body>"""


def write_report(
    rows: Sequence[Row], out_dir: str | os.PathLike[str], meta: Mapping[str, Any] | None = None,
    *, protocols: Sequence[Any],
) -> Path:
    """Write report.html, summary.json, metrics.jsonl and metrics.parquet into ``out_dir``."""
    if not rows:
        raise ReportError("no metric rows: run at least the baseline arms before writing a report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize_protocols(rows, protocols)
    summary["base_profile"] = dict(meta or {}).get("base_profile")
    summary["seconds_total"] = dict(meta or {}).get("seconds_total")
    write_jsonl(rows, out / "metrics.jsonl")
    write_parquet(rows, out / "metrics.parquet")
    atomic_write_bytes(out / "summary.json", strict_dumps(_jsonable(summary), indent=2).encode())
    page = render_html(rows, summary, dict(meta or {}))
    atomic_write_bytes(out / "report.html", page.encode())
    return out / "report.html"
