"""The demo's floors, read from a finished ``zpd demo`` output folder, with PASS/FAIL.

Floors (the issue's numbers):

1. ``zpd`` reaches uniform's final held-out accuracy with <= 0.6 x the rollouts uniform spent.
2. ``zpd`` beats ``dapo`` with dapo's dropped rollouts counted: higher final held-out accuracy at
   the same budget, and no more rollouts to reach uniform's final accuracy.
3. Prior-skill accuracy under ``zpd`` drops by <= 2 points (start of RL to its end).

Held-out accuracy is pass@1 at the sampling temperature on items drawn like the pool (easy, in
band, too hard in equal shares), averaged over seeds; curves are seed means on the rollout axis.
Also prints the per-seed numbers so noise can be judged. (The throughput floor is
``benchmarks/lab_throughput.py``.)

    python benchmarks/lab_demo_floors.py zpd-demo
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from zpd.lab.report import curves, read_jsonl, summarize


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the demo's output folder (holds metrics.jsonl)")
    args = ap.parse_args()
    rows = read_jsonl(Path(args.out) / "metrics.jsonl")
    s = summarize(rows)
    pol = s["policies"]
    uni_total = pol["uniform"]["rollouts_total"]
    print(f"target = uniform's final held-out accuracy = {s['target']:.3f}")
    print(f"{'policy':<9}{'final':>8}{'to target':>11}{'x uniform budget':>18}"
          f"{'prior start':>13}{'prior end':>11}{'drop (pts)':>11}  per-seed final / to target")
    for name, e in pol.items():
        rtt = e["rollouts_to_target"]
        print(f"{name:<9}{e['final']:>8.3f}{_n(rtt):>11}{_r(rtt / uni_total):>18}"
              f"{e.get('prior_initial', math.nan):>13.3f}{e.get('prior_final', math.nan):>11.3f}"
              f"{100 * e.get('prior_drop', math.nan):>11.1f}  "
              f"{[round(v, 3) for v in e['final_per_seed']]} / "
              f"{[_n(v) for v in e['rollouts_to_target_per_seed']]}")
    ok = True
    if "zpd" not in pol:
        print("FAIL: no zpd arm in this output")
        return 1
    gain = pol["uniform"]["final"] - pol["uniform"]["initial"]
    if gain < 0.02:
        print(f"INCONCLUSIVE: uniform improved held-out accuracy by only {gain:+.3f}; a target "
              "at the starting level says nothing about speed (is the base good enough?)")
        ok = False
    z = pol["zpd"]
    ratio = z["rollouts_to_target"] / uni_total
    ok &= _verdict(ratio <= 0.6, f"zpd reaches uniform's final accuracy with {_r(ratio)} of "
                   "uniform's rollouts (floor <= 0.6x)")
    if "dapo" in pol:
        d = pol["dapo"]
        beats = z["final"] > d["final"] and not (z["rollouts_to_target"] > d["rollouts_to_target"])
        ok &= _verdict(beats, f"zpd vs dapo (dropped rollouts counted): final {z['final']:.3f} vs "
                       f"{d['final']:.3f}; to target {_n(z['rollouts_to_target'])} vs "
                       f"{_n(d['rollouts_to_target'])}")
    drop = 100 * z.get("prior_drop", math.nan)
    ok &= _verdict(drop <= 2.0, f"zpd prior-skill drop {drop:.1f} points (floor <= 2)")
    _extra(rows)
    return 0 if ok else 1


def _extra(rows: list[dict]) -> None:  # type: ignore[type-arg]
    """Seed-mean informative fraction and dropped share per policy (context for the verdicts)."""
    for key in ("curriculum/informative_frac", "curriculum/share_band", "curriculum/share_hard"):
        means = {}
        for c in curves(rows, key):
            means.setdefault(c.policy, []).append(float(c.values.mean()))
        print(f"mean {key}: " + ", ".join(f"{p} {sum(v) / len(v):.2f}" for p, v in means.items()))


def _n(x: float) -> str:
    return "never" if not math.isfinite(x) else f"{x:,.0f}"


def _r(x: float) -> str:
    return "never" if not math.isfinite(x) else f"{x:.2f}x"


def _verdict(ok: bool, text: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
